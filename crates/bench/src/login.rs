//! The re-login after `expire_token`, the way a person does it in a browser: the gateway's
//! `/api/login` redirects to the simulator's Kite login page; submitting its form redirects to
//! the gateway's `/api/auth/callback` with a fresh request token, which the gateway exchanges
//! for an access token before redirecting home (`/`). Redirects are followed like a browser's.

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::time::Duration;

/// A client that follows redirects, with a bound on each request.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("HTTP client")
}

/// Logs in through the gateway at `gateway`; `Ok` once the gateway took the new token.
pub async fn login(http: &reqwest::Client, gateway: SocketAddr) -> anyhow::Result<()> {
    let page = http
        .get(format!("http://{gateway}/api/login"))
        .send()
        .await
        .context("GET /api/login")?
        .error_for_status()
        .context("the login page")?;
    let page_url = page.url().clone();
    let html = page.text().await.context("reading the login page")?;
    let form = Form::parse(&html).context("the login page's form")?;
    let target = page_url.join(&form.action).context("the form's action")?;
    let done = http
        .post(target)
        .form(&form.fields)
        .send()
        .await
        .context("submitting the login form")?;
    let (status, url) = (done.status(), done.url().clone());
    let home = url.port() == Some(gateway.port()) && url.path() == "/";
    if !status.is_success() || !home {
        let body = done.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(200).collect();
        bail!("the login ended at {url} with {status}: {excerpt}");
    }
    Ok(())
}

/// A page's one `<form>`: its action and its inputs' (name, value) pairs, as a browser
/// submits them.
#[derive(Debug, PartialEq)]
struct Form {
    action: String,
    fields: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> anyhow::Result<Self> {
        let start = html.find("<form").context("no <form>")?;
        let rest = html.get(start..).unwrap_or_default();
        let (form, _) = rest.split_at(rest.find("</form>").context("no </form>")?);
        let (open, _) = form.split_at(form.find('>').unwrap_or(form.len()));
        let action = attr(open, "action").context("no form action")?;
        let mut fields = Vec::new();
        let mut rest = form;
        while let Some(i) = rest.find("<input") {
            let from = rest.get(i..).unwrap_or_default();
            let (tag, after) = from.split_at(from.find('>').unwrap_or(from.len()));
            if let Some(name) = attr(tag, "name") {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
            rest = after;
        }
        Ok(Self { action, fields })
    }
}

/// The value of `name="…"` in one tag's text, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag.get(start..)?.find('"')?;
    let raw = tag.get(start..start + len)?;
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_simulator_login_form() {
        let html = r#"<main><form method="post" action="/connect/login">
<input type="hidden" name="api_key" value="feedgate-sim">
<input type="hidden" name="redirect_params" value="state=a&amp;b=c">
<label for="user_id">User ID</label>
<input id="user_id" name="user_id" type="text" value="FG0001" required>
<button type="submit">Login</button>
</form></main>"#;
        let form = Form::parse(html).unwrap();
        assert_eq!(form.action, "/connect/login");
        assert_eq!(
            form.fields,
            vec![
                ("api_key".into(), "feedgate-sim".into()),
                ("redirect_params".into(), "state=a&b=c".into()),
                ("user_id".into(), "FG0001".into()),
            ]
        );
        assert!(Form::parse("<p>no form</p>").is_err());
    }
}
