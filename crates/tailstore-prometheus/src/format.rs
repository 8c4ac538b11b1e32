//! The two things a scrape chooses: the naming preset and the text format
//! (negotiated from `Accept`).

use crate::error::Error;

/// The metric and label names of the exposition.
///
/// A public newtype over a private enum, so presets can be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Names(Preset);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preset {
    Tailstore,
    IngressNginx,
}

/// Client-golang's `DefBuckets`, which ingress-nginx uses for its request
/// duration histogram (seconds).
pub const INGRESS_NGINX_BUCKETS: [f64; 11] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The `tailstore` preset's default buckets (seconds): ingress-nginx's, with
/// 1 ms, 2.5 ms, 250 us and 30 s added at the ends for fast models and
/// timeouts.
pub const TAILSTORE_BUCKETS: [f64; 15] =
    [0.000_25, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Names {
    /// tailstore's own names: `tailstore_request_duration_seconds`
    /// (histogram) and `tailstore_requests_total` (counter), the series name
    /// in a `series` label.
    #[must_use]
    pub fn tailstore() -> Names {
        Names(Preset::Tailstore)
    }

    /// ingress-nginx's names, so dashboards and queries written for it work
    /// unchanged: `nginx_ingress_controller_request_duration_seconds`
    /// (`_bucket{path,le}`, `_sum`, `_count`) and
    /// `nginx_ingress_controller_requests{path,status}`, the series name in
    /// `path`, with ingress-nginx's default buckets.
    #[must_use]
    pub fn ingress_nginx() -> Names {
        Names(Preset::IngressNginx)
    }

    /// The preset called `name` (`tailstore` or `ingress-nginx`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownNames`] for any other name.
    pub fn parse(name: &str) -> Result<Names, Error> {
        match name {
            "tailstore" => Ok(Names::tailstore()),
            "ingress-nginx" => Ok(Names::ingress_nginx()),
            _ => Err(Error::UnknownNames { name: name.to_string() }),
        }
    }

    /// The preset's name, as [`Names::parse`] reads it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self.0 {
            Preset::Tailstore => "tailstore",
            Preset::IngressNginx => "ingress-nginx",
        }
    }

    /// The preset's default bucket bounds, seconds.
    #[must_use]
    pub fn default_buckets(self) -> &'static [f64] {
        match self.0 {
            Preset::Tailstore => &TAILSTORE_BUCKETS,
            Preset::IngressNginx => &INGRESS_NGINX_BUCKETS,
        }
    }

    /// Whether a gauge exposed as `name` would clash with this preset's
    /// request families (their names or samples).
    pub(crate) fn reserves(self, name: &str) -> bool {
        let h = self.histogram();
        name.starts_with(h) || name.starts_with(self.counter())
    }

    /// Histogram family name (the `_bucket`, `_sum`, `_count` samples add
    /// their suffix).
    pub(crate) fn histogram(self) -> &'static str {
        match self.0 {
            Preset::Tailstore => "tailstore_request_duration_seconds",
            Preset::IngressNginx => "nginx_ingress_controller_request_duration_seconds",
        }
    }

    /// Counter family name, without `_total` (`OpenMetrics` adds it to the
    /// sample; text 0.0.4 writes [`Names::counter_sample`]).
    pub(crate) fn counter(self) -> &'static str {
        match self.0 {
            Preset::Tailstore => "tailstore_requests",
            Preset::IngressNginx => "nginx_ingress_controller_requests",
        }
    }

    /// The counter's sample name, which is what queries use. ingress-nginx's
    /// counter has no `_total`.
    pub(crate) fn counter_sample(self) -> &'static str {
        match self.0 {
            Preset::Tailstore => "tailstore_requests_total",
            Preset::IngressNginx => "nginx_ingress_controller_requests",
        }
    }

    /// Whether the counter is typed `counter`: its sample must then end in
    /// `_total` (`OpenMetrics` requires it, `promtool check metrics` lints
    /// it), and ingress-nginx's does not, so that family is typed `untyped`
    /// (text) and `unknown` (`OpenMetrics`) to keep the name queries use.
    pub(crate) fn counter_typed(self) -> bool {
        matches!(self.0, Preset::Tailstore)
    }

    /// The label holding the series name.
    pub(crate) fn series_label(self) -> &'static str {
        match self.0 {
            Preset::Tailstore => "series",
            Preset::IngressNginx => "path",
        }
    }
}

/// The format of an exposition: text 0.0.4, `OpenMetrics` 1.0 or protobuf.
///
/// A public newtype over a private enum, so formats can be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    OpenMetrics,
    Protobuf,
}

impl Format {
    /// Prometheus text exposition format 0.0.4.
    #[must_use]
    pub fn text() -> Format {
        Format(Kind::Text)
    }

    /// `OpenMetrics` 1.0 text (`# EOF`, `_created`, canonical `le`).
    #[must_use]
    pub fn openmetrics() -> Format {
        Format(Kind::OpenMetrics)
    }

    /// Prometheus' protobuf format: length-delimited
    /// `io.prometheus.client.MetricFamily` messages, histograms with both
    /// classic buckets and a native histogram (see the crate's docs).
    #[must_use]
    pub fn protobuf() -> Format {
        Format(Kind::Protobuf)
    }

    /// Whether this is the protobuf format.
    #[must_use]
    pub fn is_protobuf(self) -> bool {
        self.0 == Kind::Protobuf
    }

    /// Whether this is `OpenMetrics`.
    #[must_use]
    pub fn is_openmetrics(self) -> bool {
        self.0 == Kind::OpenMetrics
    }

    /// The `Content-Type` of a response in this format.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self.0 {
            Kind::Text => "text/plain; version=0.0.4; charset=utf-8",
            Kind::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Kind::Protobuf => {
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
                 encoding=delimited"
            }
        }
    }

    /// The format an `Accept` header asks for: the acceptable media range
    /// with the highest `q` (the first among equals) that names
    /// `application/openmetrics-text` (version 1.0.0 or none),
    /// `application/vnd.google.protobuf` with
    /// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`
    /// (what Prometheus asks for first when native histograms are on), or
    /// `text/plain` (version 0.0.4 or none), or a wildcard (text); text
    /// 0.0.4 when the header is absent or names neither, as `client_golang`
    /// does.
    #[must_use]
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::text() };
        let mut best: Option<(f64, Format)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let (mut q, mut version, mut proto, mut encoding) = (1.0_f64, None, None, None);
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    let v = v.trim().trim_matches('"');
                    match k.trim().to_ascii_lowercase().as_str() {
                        "q" => q = v.parse().unwrap_or(0.0),
                        "version" => version = Some(v.to_string()),
                        "proto" => proto = Some(v.to_string()),
                        "encoding" => encoding = Some(v.to_ascii_lowercase()),
                        _ => {}
                    }
                }
            }
            let format = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => Format::openmetrics(),
                ("application/vnd.google.protobuf", _)
                    if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                        && encoding.as_deref() == Some("delimited") =>
                {
                    Format::protobuf()
                }
                ("text/plain", None | Some("0.0.4")) | ("text/*" | "*/*", _) => Format::text(),
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::text(), |(_, f)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_q_values() {
        let om = Format::openmetrics();
        let text = Format::text();
        assert_eq!(Format::negotiate(None), text);
        assert_eq!(Format::negotiate(Some("")), text);
        assert_eq!(Format::negotiate(Some("application/json")), text);
        // Prometheus 2.x's scrape header.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), om);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text")), om);
        assert_eq!(Format::negotiate(Some("Application/OpenMetrics-Text; version=\"1.0.0\"")), om);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.4, text/plain;q=0.9")),
            text
        );
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;q=0")), text);
        assert_eq!(Format::negotiate(Some("application/openmetrics-text;version=2.0.0")), text);
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), text);
        assert_eq!(Format::negotiate(Some("*/*")), text);
        // Prometheus 2.x's scrape header with native histograms on.
        let pb = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
                  application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;\
                  q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(pb)), Format::protobuf());
        assert!(Format::protobuf().is_protobuf() && !Format::protobuf().is_openmetrics());
        // Other encodings or messages are not what is written.
        for other in [
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
            "application/vnd.google.protobuf",
        ] {
            assert_eq!(Format::negotiate(Some(other)), text, "{other}");
        }
        assert_eq!(
            Format::negotiate(Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                 encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0"
            )),
            om
        );
    }

    #[test]
    fn presets_parse_by_name() {
        for n in [Names::tailstore(), Names::ingress_nginx()] {
            assert_eq!(Names::parse(n.name()).unwrap(), n);
        }
        assert!(Names::parse("nginx").unwrap_err().to_string().contains("nginx"));
    }
}
