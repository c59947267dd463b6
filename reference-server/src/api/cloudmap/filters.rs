//! The `Filters` member of ListNamespaces, ListServices and ListOperations: which filter names
//! take which conditions, and how many values each condition takes.

use super::validate::Validator;
use super::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Eq,
    In,
    Between,
    BeginsWith,
}

impl Condition {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "EQ" => Some(Condition::Eq),
            "IN" => Some(Condition::In),
            "BETWEEN" => Some(Condition::Between),
            "BEGINS_WITH" => Some(Condition::BeginsWith),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Condition::Eq => "EQ",
            Condition::In => "IN",
            Condition::Between => "BETWEEN",
            Condition::BeginsWith => "BEGINS_WITH",
        }
    }
}

/// A filter name and the conditions it accepts (the first is its default).
pub struct FilterSpec {
    pub name: &'static str,
    pub conditions: &'static [Condition],
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub name: &'static str,
    pub condition: Condition,
    pub values: Vec<String>,
}

impl Filter {
    pub fn matches(&self, value: &str) -> bool {
        match self.condition {
            Condition::Eq | Condition::In => self.values.iter().any(|v| v == value),
            Condition::BeginsWith => self.values.iter().any(|v| value.starts_with(v.as_str())),
            Condition::Between => false,
        }
    }
}

pub fn parse_filters(
    v: &mut Validator,
    filters: &[wire::Filter],
    specs: &[FilterSpec],
) -> Vec<Filter> {
    let names: Vec<&str> = specs.iter().map(|spec| spec.name).collect();
    let mut out = Vec::new();
    for (index, filter) in filters.iter().enumerate() {
        let path = format!("filters.{}.member", index + 1);
        let name = v.required(&format!("{path}.name"), &filter.name);
        let values = v.required(&format!("{path}.values"), &filter.values);
        let (Some(name), Some(values)) = (name, values) else {
            continue;
        };
        let Some(spec) = v.one_of(
            &format!("{path}.name"),
            name,
            |n| specs.iter().find(|s| s.name == n),
            &names,
        ) else {
            continue;
        };
        let condition = match &filter.condition {
            None => Some(spec.conditions[0]),
            Some(text) => v.one_of(
                &format!("{path}.condition"),
                text,
                Condition::parse,
                &["EQ", "IN", "BETWEEN", "BEGINS_WITH"],
            ),
        };
        let Some(condition) = condition else { continue };
        if !spec.conditions.contains(&condition) {
            v.rule(format!(
                "The {} condition is not supported for the {} filter",
                condition.as_str(),
                spec.name
            ));
            continue;
        }
        for value in values {
            v.length(&format!("{path}.values.member"), value, 1, 255);
        }
        let expected = match condition {
            Condition::Eq | Condition::BeginsWith => Some(1),
            Condition::Between => Some(2),
            Condition::In => None,
        };
        if values.is_empty() || expected.is_some_and(|n| values.len() != n) {
            v.rule(format!(
                "The {} condition of the {} filter takes {} value(s), got {}",
                condition.as_str(),
                spec.name,
                expected.map_or_else(|| "one or more".to_owned(), |n| n.to_string()),
                values.len()
            ));
            continue;
        }
        out.push(Filter {
            name: spec.name,
            condition,
            values: values.clone(),
        });
    }
    out
}
