//! `random_alphanumeric`: the one value helper that reads the host (the kernel's random source,
//! `getrandom(2)`, which no policy governs: REX did not gate it either).

/// The longest string `random_alphanumeric` produces (1 MiB).
pub const MAX_RANDOM_LEN: i64 = 1024 * 1024;

/// `len` random ASCII letters and digits, from the OS random source. A negative `len` or more
/// than [`MAX_RANDOM_LEN`] is refused (REX fell back to 16 for a negative length).
pub fn random_alphanumeric(len: i64) -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if !(0..=MAX_RANDOM_LEN).contains(&len) {
        return Err(format!(
            "random_alphanumeric length must be between 0 and {MAX_RANDOM_LEN}, got {len}"
        ));
    }
    let len = usize::try_from(len).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 256];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
        // 62 * 4 = 248: reject bytes >= 248 to keep the distribution uniform.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            if let Some(c) = ALPHABET.get(usize::from(*b % 62)) {
                out.push(char::from(*c));
            }
        }
    }
    Ok(out)
}
