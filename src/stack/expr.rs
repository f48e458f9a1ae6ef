//! `${...}` expressions inside strings: `${params.name}`, `${resource.attribute}`,
//! `${stack.name}`, `${stack.env}`, the target's `${aws.region}` and `${aws.account_hash}`
//! and, inside templates, `${vars.name}`. `$${` is a literal `${`.

use std::fmt;

/// What an expression points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    Param(String),
    Stack(String),
    /// A value of the AWS account and region the run works on (`${aws.region}`,
    /// `${aws.account_hash}`), known once the credentials have been asked who they are.
    Aws(String),
    Var(String),
    Resource {
        name: String,
        attr: String,
    },
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Param(n) => write!(f, "params.{n}"),
            Ref::Stack(n) => write!(f, "stack.{n}"),
            Ref::Aws(n) => write!(f, "aws.{n}"),
            Ref::Var(n) => write!(f, "vars.{n}"),
            Ref::Resource { name, attr } => write!(f, "{name}.{attr}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Lit(String),
    /// A reference and the byte offset of its `${` in the source string.
    Ref(Ref, usize),
}

/// A parse error with the byte offset it was found at.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

pub fn has_expr(s: &str) -> bool {
    s.contains("${")
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_ref(inner: &str) -> Result<Ref, String> {
    let trimmed = inner.trim();
    let expected = "expected `${resource.attribute}`, `${params.name}` `${stack.name|env}` or `${aws.region|account_hash}`";
    let Some((head, tail)) = trimmed.split_once('.') else {
        return Err(format!("invalid reference `${{{inner}}}`: {expected}"));
    };
    if !is_ident(head) || !is_ident(tail) {
        return Err(format!("invalid reference `${{{inner}}}`: {expected}"));
    }
    Ok(match head {
        "params" => Ref::Param(tail.into()),
        "stack" => Ref::Stack(tail.into()),
        "aws" => Ref::Aws(tail.into()),
        "vars" => Ref::Var(tail.into()),
        _ => Ref::Resource {
            name: head.into(),
            attr: tail.into(),
        },
    })
}

/// Splits a string into literal text and references.
pub fn parse(s: &str) -> Result<Vec<Segment>, ExprError> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    let mut base = 0;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i..];
        if after.starts_with("$${") {
            lit.push_str("${");
            base += i + 3;
            rest = &rest[i + 3..];
        } else if after.starts_with("${") {
            let Some(end) = after.find('}') else {
                return Err(ExprError {
                    offset: base + i,
                    message: "unterminated `${`: expected a closing `}`".into(),
                });
            };
            let inner = &after[2..end];
            let r = parse_ref(inner).map_err(|message| ExprError {
                offset: base + i,
                message,
            })?;
            if !lit.is_empty() {
                out.push(Segment::Lit(std::mem::take(&mut lit)));
            }
            out.push(Segment::Ref(r, base + i));
            base += i + end + 1;
            rest = &rest[i + end + 1..];
        } else {
            lit.push('$');
            base += i + 1;
            rest = &rest[i + 1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Segment::Lit(lit));
    }
    Ok(out)
}

/// All references in a string, with their offsets; errors for malformed expressions.
pub fn refs(s: &str) -> Result<Vec<(Ref, usize)>, ExprError> {
    Ok(parse(s)?
        .into_iter()
        .filter_map(|seg| match seg {
            Segment::Ref(r, o) => Some((r, o)),
            Segment::Lit(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_refs_and_escapes() {
        let segs = parse("user-${params.uid}-bucket $${HOME} $x").unwrap();
        assert_eq!(
            segs,
            vec![
                Segment::Lit("user-".into()),
                Segment::Ref(Ref::Param("uid".into()), 5),
                Segment::Lit("-bucket ${HOME} $x".into()),
            ]
        );
        assert_eq!(
            refs("${client.public_dns}:8082").unwrap(),
            vec![(
                Ref::Resource {
                    name: "client".into(),
                    attr: "public_dns".into()
                },
                0
            )]
        );
    }

    #[test]
    fn rejects_malformed_expressions_with_offsets() {
        let e = parse("abc ${params.uid").unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(e.message.contains("unterminated"));
        let e = parse("x ${justone}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("invalid reference"));
        assert!(parse("${a.b.c}").is_err());
        assert!(parse("${A.b}").is_err());
    }
}
