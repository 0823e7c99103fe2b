//! What feedgate keeps on disk in `FEEDGATE_DATA_DIR`, each file written atomically
//! ([`atomic`]): the access token, the last known values, the close-of-day candle files and the
//! instrument list. The formats and their read/write code live here; the tasks that decide
//! when to write are above. (The Fyers symbol book is kept by its broker adapter, beside the
//! master it is parsed from, through the same atomic writes.)

pub mod atomic;
pub mod candle_files;
pub mod instrument_cache;
pub mod last_values;
pub mod recording;
pub mod token_file;
