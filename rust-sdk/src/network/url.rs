//! URL normalisation: the Cedar resource id of an HTTP request and of each redirect.

use super::*;

/// A normalised HTTP(S) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedUrl {
    /// The normalised URL: the Cedar resource id and what is requested.
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host (IPv6 in brackets).
    pub host: String,
    /// The port (the scheme's default when absent).
    pub port: u16,
    /// Path without the query (`""` when the URL has none).
    pub path: String,
}

impl NormalizedUrl {
    pub(super) fn attrs(&self) -> UrlAttrs {
        UrlAttrs {
            scheme: self.scheme.clone(),
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
        }
    }
}

/// Normalises an `http`/`https` URL (see the module documentation).
pub fn normalize_url(raw: &str) -> Result<NormalizedUrl, NetworkError> {
    let bad = |reason| NetworkError::InvalidUrl {
        url: raw.to_string(),
        reason,
    };
    if raw.is_empty() || raw.len() > 8192 {
        return Err(bad("empty or longer than 8192 bytes"));
    }
    if raw.bytes().any(|b| b <= b' ' || b == 0x7f) || !raw.is_ascii() {
        return Err(bad("whitespace, control or non-ASCII characters"));
    }
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| bad("missing scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("only http and https are supported")),
    };
    let rest = rest.split_once('#').map_or(rest, |(a, _)| a);
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    if authority.contains('@') {
        return Err(bad("userinfo is not allowed"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unterminated IPv6 host"))?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("invalid IPv6 host"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after host"))?),
        };
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty()
        || !host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        })
    {
        return Err(bad("invalid host"));
    }
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().map_err(|_| bad("invalid port"))?
        }
        Some(_) => return Err(bad("invalid port")),
    };
    if port == 0 {
        return Err(bad("port 0"));
    }
    let path = tail.split_once('?').map_or(tail, |(p, _)| p).to_string();
    if has_ambiguous_segment(&path) {
        return Err(bad(
            "dot segments, backslashes or encoded separators in the path",
        ));
    }
    let url = if port == default_port {
        format!("{scheme}://{host}{tail}")
    } else {
        format!("{scheme}://{host}:{port}{tail}")
    };
    Ok(NormalizedUrl {
        url,
        scheme,
        host,
        port,
        path,
    })
}

/// Whether a URL path could name something other than what it spells for a policy: a `.`
/// or `..` segment (also percent-encoded, or with a `;` parameter, as some servers accept),
/// a backslash, or an encoded separator (`%2F`, `%5C`). Servers and proxies resolve these, so a grant
/// such as `resource.path like "/public/*"` would otherwise match `/public/../secret`.
fn has_ambiguous_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains('\\') || lower.contains("%2f") || lower.contains("%5c") {
        return true;
    }
    lower.split('/').any(|seg| {
        let seg = seg.split(';').next().unwrap_or("").replace("%2e", ".");
        seg == "." || seg == ".."
    })
}

/// Resolves a redirect `Location` against the URL that returned it.
pub(super) fn join_location(base: &NormalizedUrl, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin = if (base.scheme == "http" && base.port == 80)
        || (base.scheme == "https" && base.port == 443)
    {
        format!("{}://{}", base.scheme, base.host)
    } else {
        format!("{}://{}:{}", base.scheme, base.host, base.port)
    };
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}://{rest}", base.scheme);
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let dir = base.path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}
