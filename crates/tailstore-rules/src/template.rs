//! Annotation templates: text with `{{ $value }}` and `{{ $labels.NAME }}`.

use std::collections::BTreeMap;

/// A parsed annotation template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Value,
    Label(String),
}

impl Template {
    /// Parses a template; the error names the placeholder that is wrong.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!("bad template {text:?}: `{{{{` without `}}}}`"));
            };
            let var = after[..close].trim();
            parts.push(match var {
                "$value" => Part::Value,
                _ => match var.strip_prefix("$labels.") {
                    Some(name)
                        if !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        Part::Label(name.to_string())
                    }
                    _ => {
                        return Err(format!(
                            "bad template {text:?}: unknown placeholder {{{{ {var} }}}} (use \
                             {{{{ $value }}}} or {{{{ $labels.NAME }}}})"
                        ))
                    }
                },
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The label names the template reads.
    pub(crate) fn labels(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Label(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The text with `value` (already formatted; `-` when there is none)
    /// and the labels filled in.
    pub(crate) fn render(&self, value: &str, labels: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Value => out.push_str(value),
                Part::Label(n) => out.push_str(labels.get(n).map_or("", String::as_str)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_rejects() {
        let t = Template::parse("Error rate is {{ $value }}% on {{$labels.series}}").unwrap();
        let labels = BTreeMap::from([("series".to_string(), "/m/a".to_string())]);
        assert_eq!(t.render("7.31", &labels), "Error rate is 7.31% on /m/a");
        assert_eq!(t.labels().collect::<Vec<_>>(), ["series"]);
        assert_eq!(Template::parse("plain").unwrap().render("1", &labels), "plain");
        for (bad, says) in [
            ("{{ $value }", "without"),
            ("{{ value }}", "unknown placeholder {{ value }}"),
            ("{{ $labels. }}", "unknown placeholder"),
            ("{{ $labels.a-b }}", "unknown placeholder"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
