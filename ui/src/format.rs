//! How values read from API objects are shown: sizes, rates, dates, states as badges.

/// The number a text holds, such as "12.5%" or "3.20 Ghz".
pub fn number(s: &str) -> Option<f64> {
    s.trim()
        .trim_end_matches('%')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Bytes in binary units: "0 B", "512 B", "1.50 KiB", "20.00 GiB".
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = n.max(0.0);
    let mut u = 0;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} B")
    } else {
        format!("{x:.2} {}", UNITS[u])
    }
}

/// MHz as GHz: "5.98 GHz".
pub fn ghz(mhz: f64) -> String {
    format!("{:.2} GHz", mhz / 1000.0)
}

/// Percent of `used` in `total`, 0 when total is 0.
pub fn percent(used: f64, total: f64) -> f64 {
    if total > 0.0 {
        (used / total * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    }
}

/// CloudStack's date (`2026-11-23T14:05:09+0000`) as `2026-11-23 14:05:09`.
pub fn date(s: &str) -> String {
    match (s.get(..10), s.get(11..19)) {
        (Some(d), Some(t)) if s.as_bytes().get(10) == Some(&b'T') => format!("{d} {t}"),
        _ => s.to_string(),
    }
}

/// The badge class of a state: `ok` (green), `warn` (amber), `bad` (red), `info` (blue)
/// or `idle` (grey).
pub fn state_class(state: &str) -> &'static str {
    let s = state.to_ascii_lowercase();
    match s.as_str() {
        "up"
        | "enabled"
        | "ready"
        | "running"
        | "successfully installed"
        | "implemented"
        | "setup"
        | "allocated"
        | "yes"
        | "true"
        | "info" => "ok",
        "disabled"
        | "maintenance"
        | "prepareformaintenance"
        | "cancelmaintenance"
        | "stopped"
        | "locked"
        | "warn"
        | "no"
        | "false" => "warn",
        "connecting" | "starting" | "stopping" | "download pending" | "pending" => "info",
        "down" | "alert" | "disconnected" | "error" | "errorinmaintenance" | "destroyed"
        | "expunging" => "bad",
        _ if s.contains("downloaded") => "info",
        _ if s.contains("fail")
            || s.contains("error")
            || s.contains("not ")
            || s.contains("mismatch")
            || s.contains("refused") =>
        {
            "bad"
        }
        _ if s.starts_with("waiting") => "warn",
        _ => "idle",
    }
}

/// What an ISO's copy in a zone says of its download: `isready`, `status`, and the first
/// of its `downloaddetails` (`downloadPercent`, `downloadState`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Download<'a> {
    pub ready: bool,
    pub status: &'a str,
    pub percent: Option<&'a str>,
    pub state: &'a str,
}

/// "12" from "12% Downloaded", or the download details' percentage.
pub fn download_percent(d: &Download) -> Option<u32> {
    if d.ready {
        return Some(100);
    }
    let from_details = d.percent.and_then(|p| p.parse::<u32>().ok());
    let from_status = d
        .status
        .split_once("% Downloaded")
        .and_then(|(n, _)| n.trim().parse::<u32>().ok());
    from_status.or(from_details).map(|p| p.min(100))
}

/// Whether an ISO copy is still on its way (queued or downloading).
pub fn download_in_progress(d: &Download) -> bool {
    if d.ready {
        return false;
    }
    d.state == "DOWNLOAD_IN_PROGRESS"
        || d.status.contains("Downloaded")
        || d.status == "Download pending"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_dates() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1023.0), "1023 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(20.0 * 1024.0 * 1024.0 * 1024.0), "20.00 GiB");
        assert_eq!(ghz(5980.0), "5.98 GHz");
        assert_eq!(date("2026-11-23T14:05:09+0000"), "2026-11-23 14:05:09");
        assert_eq!(date("yesterday"), "yesterday");
        assert_eq!(percent(1.0, 4.0), 25.0);
        assert_eq!(percent(1.0, 0.0), 0.0);
    }

    #[test]
    fn numbers_from_api_strings() {
        assert_eq!(number("12.50%"), Some(12.5));
        assert_eq!(number("5.98 Ghz"), Some(5.98));
        assert_eq!(number("3"), Some(3.0));
        assert_eq!(number("abc"), None);
        assert_eq!(number(""), None);
    }

    #[test]
    fn states_map_to_badges() {
        assert_eq!(state_class("Up"), "ok");
        assert_eq!(state_class("Successfully Installed"), "ok");
        assert_eq!(state_class("Maintenance"), "warn");
        assert_eq!(state_class("Alert"), "bad");
        assert_eq!(state_class("56% Downloaded"), "info");
        assert_eq!(state_class("Checksum mismatch: expected 1, got 2"), "bad");
        assert_eq!(state_class("Connecting"), "info");
    }

    #[test]
    fn download_progress() {
        let downloading = Download {
            ready: false,
            status: "56% Downloaded",
            percent: Some("56"),
            state: "DOWNLOAD_IN_PROGRESS",
        };
        assert_eq!(download_percent(&downloading), Some(56));
        assert!(download_in_progress(&downloading));
        let ready = Download {
            ready: true,
            status: "Successfully Installed",
            ..Default::default()
        };
        assert_eq!(download_percent(&ready), Some(100));
        assert!(!download_in_progress(&ready));
        let failed = Download {
            ready: false,
            status: "HTTP 404 Not Found",
            percent: Some("0"),
            state: "DOWNLOAD_ERROR",
        };
        assert!(!download_in_progress(&failed));
        let queued = Download {
            percent: Some("30"),
            ..Default::default()
        };
        assert_eq!(download_percent(&queued), Some(30));
        let pending = Download {
            status: "Download pending",
            ..Default::default()
        };
        assert!(download_in_progress(&pending));
    }
}
