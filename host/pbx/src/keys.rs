//! The server's own keys (signing shared links, sealing plugin secrets): 32 random bytes
//! kept in a file of the data directory, made on first use, or given by the operator in an
//! environment variable (several nodes must share them).

use std::path::Path;

/// The key named `file` in `data_dir`, or the one in `env` (64 hex digits); made (mode 0600)
/// if neither exists.
pub fn load_or_create(data_dir: &Path, file: &str, env: &str) -> Result<[u8; 32], String> {
    if let Ok(hex) = std::env::var(env) {
        return decode_hex(hex.trim()).ok_or_else(|| format!("{env} must be 64 hex digits"));
    }
    let path = data_dir.join(file);
    let read = || std::fs::read_to_string(&path).ok().and_then(|s| decode_hex(s.trim()));
    if let Some(k) = read() {
        return Ok(k);
    }
    // Written whole to a file of its own, then linked into place: a crash leaves no partial
    // key, and of two servers starting at once one key wins and both use it.
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = data_dir.join(format!("{file}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(data_dir)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(hex.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, &path)
    };
    let linked = write();
    let _ = std::fs::remove_file(&tmp);
    match (linked, read()) {
        (Ok(()), _) => Ok(key),
        (Err(_), Some(k)) => Ok(k),
        (Err(e), None) => Err(format!("cannot keep the key in {}: {e}", path.display())),
    }
}

/// 64 hex digits as 32 bytes.
pub fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}
