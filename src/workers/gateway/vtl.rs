//! The subset of API Gateway's mapping-template language (Velocity) that Kinesis integrations
//! use: references (`$input.params('x')`, `$input.path('$.a')`, `$input.json('$.a')`,
//! `$input.body`, `$util.base64Encode(..)`, `$elem.partition-key`, `$foreach.hasNext`),
//! `#if/#elseif/#else/#end`, `#foreach($x in ..)`, `#set`, `##` comments. Anything else is an
//! error naming the line, so a template the twin cannot run is never half-rendered.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("mapping template line {line}: {message}")]
pub struct VtlError {
    pub line: usize,
    pub message: String,
}

/// What the request offers a template.
#[derive(Debug, Default)]
pub struct Request {
    pub body: String,
    pub path: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
}

impl Request {
    fn param(&self, name: &str) -> Option<&String> {
        self.path
            .get(name)
            .or_else(|| self.query.get(name))
            .or_else(|| {
                self.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

pub fn render(template: &str, request: &Request) -> Result<String, VtlError> {
    let nodes = Parser::new(template).block(&[])?.0;
    let mut out = String::new();
    let mut scope = Scope {
        request,
        body: request.json(),
        vars: Vec::new(),
    };
    scope.run(&nodes, &mut out)?;
    Ok(out)
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Ref(Expr, usize),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>, usize),
    Foreach(String, Expr, Vec<Node>, usize),
    Set(String, Expr, usize),
}

#[derive(Debug, Clone)]
enum Expr {
    Str(String),
    /// A double-quoted string with references in it (text and references only).
    Interp(Vec<Node>),
    /// A number literal: an `Integer` without a decimal point, a `Double` with one (Velocity).
    Num(serde_json::Number),
    Bool(bool),
    /// `$name` followed by `.prop` or `.method(args)` steps.
    Path(String, Vec<Step>),
    Not(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone)]
enum Step {
    Prop(String),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    And,
    Or,
}

/// What an expression evaluates to: JSON, or one of the template's built-in objects.
#[derive(Debug, Clone)]
enum Val {
    Json(Value),
    Input,
    Util,
    Foreach { has_next: bool, index: usize },
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser {
            src: s.as_bytes(),
            pos: 0,
        }
    }

    fn line(&self) -> usize {
        1 + self.src[..self.pos.min(self.src.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, VtlError> {
        Err(VtlError {
            line: self.line(),
            message: message.into(),
        })
    }

    fn rest(&self) -> &'a [u8] {
        &self.src[self.pos..]
    }

    fn starts(&self, s: &str) -> bool {
        self.rest().starts_with(s.as_bytes())
    }

    /// Nodes until one of `ends` (a directive name) or the end; returns the directive met.
    fn block(&mut self, ends: &[&str]) -> Result<(Vec<Node>, Option<String>), VtlError> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            if c == b'#' {
                if self.starts("##") {
                    // A line comment takes its newline with it.
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                    self.pos += 1;
                    continue;
                }
                let name = self.directive_name();
                if let Some(name) = name {
                    if ends.contains(&name.as_str()) {
                        flush(&mut text, &mut nodes);
                        return Ok((nodes, Some(name)));
                    }
                    let line = self.line();
                    match name.as_str() {
                        "if" => {
                            flush(&mut text, &mut nodes);
                            nodes.push(self.if_chain(line)?);
                            continue;
                        }
                        "foreach" => {
                            flush(&mut text, &mut nodes);
                            self.expect(b'(')?;
                            self.ws();
                            let var = self.var_name()?;
                            self.ws();
                            if !self.starts("in") {
                                return self.err("expected `in` in #foreach");
                            }
                            self.pos += 2;
                            let list = self.expr()?;
                            self.ws();
                            self.expect(b')')?;
                            let (body, end) = self.block(&["end"])?;
                            if end.is_none() {
                                return self.err("#foreach without #end");
                            }
                            nodes.push(Node::Foreach(var, list, body, line));
                            continue;
                        }
                        "set" => {
                            flush(&mut text, &mut nodes);
                            self.expect(b'(')?;
                            self.ws();
                            let var = self.var_name()?;
                            self.ws();
                            self.expect(b'=')?;
                            let value = self.expr()?;
                            self.ws();
                            self.expect(b')')?;
                            nodes.push(Node::Set(var, value, line));
                            continue;
                        }
                        "end" | "else" | "elseif" => {
                            return self.err(format!("#{name} without a matching #if or #foreach"))
                        }
                        other => return self.err(format!("directive #{other} is not supported")),
                    }
                }
                text.push('#');
                self.pos += 1;
            } else if c == b'$' && self.ref_follows() {
                flush(&mut text, &mut nodes);
                let line = self.line();
                let e = self.reference()?;
                nodes.push(Node::Ref(e, line));
            } else {
                let start = self.pos;
                self.pos += 1;
                while self.pos < self.src.len() && !matches!(self.src[self.pos], b'#' | b'$') {
                    self.pos += 1;
                }
                text.push_str(&String::from_utf8_lossy(&self.src[start..self.pos]));
            }
        }
        flush(&mut text, &mut nodes);
        Ok((nodes, None))
    }

    /// At `#`: the directive's name (`#if`, `#{else}`), consuming it, or `None` for a plain `#`.
    fn directive_name(&mut self) -> Option<String> {
        let rest = self.rest();
        let (braced, from) = if rest.get(1) == Some(&b'{') {
            (true, 2)
        } else {
            (false, 1)
        };
        let len = rest[from..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        if len == 0 {
            return None;
        }
        let name = String::from_utf8_lossy(&rest[from..from + len]).to_string();
        if !matches!(
            name.as_str(),
            "if" | "elseif"
                | "else"
                | "end"
                | "foreach"
                | "set"
                | "macro"
                | "parse"
                | "include"
                | "break"
                | "stop"
                | "define"
                | "evaluate"
        ) {
            return None;
        }
        let mut used = from + len;
        if braced {
            if rest.get(used) != Some(&b'}') {
                return None;
            }
            used += 1;
        }
        self.pos += used;
        Some(name)
    }

    fn if_chain(&mut self, line: usize) -> Result<Node, VtlError> {
        let mut arms = Vec::new();
        let mut cond = self.condition()?;
        loop {
            let (body, end) = self.block(&["elseif", "else", "end"])?;
            arms.push((cond, body));
            match end.as_deref() {
                Some("elseif") => cond = self.condition()?,
                Some("else") => {
                    let (other, end) = self.block(&["end"])?;
                    if end.is_none() {
                        return self.err("#if without #end");
                    }
                    return Ok(Node::If(arms, other, line));
                }
                Some(_) => return Ok(Node::If(arms, Vec::new(), line)),
                None => return self.err("#if without #end"),
            }
        }
    }

    fn condition(&mut self) -> Result<Expr, VtlError> {
        self.ws();
        self.expect(b'(')?;
        let e = self.expr()?;
        self.ws();
        self.expect(b')')?;
        Ok(e)
    }

    fn ws(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), VtlError> {
        if self.src.get(self.pos) == Some(&b) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(format!("expected `{}`", b as char))
        }
    }

    fn ref_follows(&self) -> bool {
        let r = self.rest();
        let mut i = 1;
        if r.get(i) == Some(&b'!') {
            i += 1;
        }
        if r.get(i) == Some(&b'{') {
            i += 1;
        }
        r.get(i).is_some_and(|b| b.is_ascii_alphabetic())
    }

    fn var_name(&mut self) -> Result<String, VtlError> {
        if self.src.get(self.pos) != Some(&b'$') {
            return self.err("expected a `$variable`");
        }
        self.pos += 1;
        Ok(self.ident())
    }

    /// Velocity identifiers may hold `-` and `_` after the first letter.
    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.src.len() {
            let b = self.src[self.pos];
            let tail_ok = b.is_ascii_alphanumeric() || b == b'_';
            let dash_ok = b == b'-'
                && self.pos > start
                && self
                    .src
                    .get(self.pos + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic());
            if tail_ok || dash_ok {
                self.pos += 1;
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.src[start..self.pos]).to_string()
    }

    /// `$a.b.c(args)`, `$!a`, `${a.b}`.
    fn reference(&mut self) -> Result<Expr, VtlError> {
        self.pos += 1;
        if self.src.get(self.pos) == Some(&b'!') {
            self.pos += 1;
        }
        let braced = self.src.get(self.pos) == Some(&b'{');
        if braced {
            self.pos += 1;
        }
        let name = self.ident();
        let mut steps = Vec::new();
        while self.src.get(self.pos) == Some(&b'.')
            && self
                .src
                .get(self.pos + 1)
                .is_some_and(|b| b.is_ascii_alphabetic())
        {
            self.pos += 1;
            let member = self.ident();
            if self.src.get(self.pos) == Some(&b'(') {
                self.pos += 1;
                let mut args = Vec::new();
                loop {
                    self.ws();
                    if self.src.get(self.pos) == Some(&b')') {
                        self.pos += 1;
                        break;
                    }
                    args.push(self.expr()?);
                    self.ws();
                    match self.src.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b')') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return self.err(format!("expected `,` or `)` in .{member}(..)")),
                    }
                }
                steps.push(Step::Call(member, args));
            } else {
                steps.push(Step::Prop(member));
            }
        }
        if braced {
            self.expect(b'}')?;
        }
        Ok(Expr::Path(name, steps))
    }

    fn expr(&mut self) -> Result<Expr, VtlError> {
        let mut left = self.comparison()?;
        loop {
            self.ws();
            let op = if self.starts("&&") {
                Op::And
            } else if self.starts("||") {
                Op::Or
            } else {
                return Ok(left);
            };
            self.pos += 2;
            let right = self.comparison()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn comparison(&mut self) -> Result<Expr, VtlError> {
        let left = self.unary()?;
        self.ws();
        let op = if self.starts("==") {
            Op::Eq
        } else if self.starts("!=") {
            Op::Ne
        } else {
            return Ok(left);
        };
        self.pos += 2;
        let right = self.unary()?;
        Ok(Expr::Binary(Box::new(left), op, Box::new(right)))
    }

    fn unary(&mut self) -> Result<Expr, VtlError> {
        self.ws();
        match self.src.get(self.pos) {
            Some(b'!') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.ws();
                self.expect(b')')?;
                Ok(e)
            }
            Some(b'$') => self.reference(),
            Some(q @ (b'\'' | b'"')) => {
                let q = *q;
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.src.len() && self.src[self.pos] != q {
                    self.pos += 1;
                }
                if self.pos >= self.src.len() {
                    return self.err("unterminated string");
                }
                let s = String::from_utf8_lossy(&self.src[start..self.pos]).to_string();
                self.pos += 1;
                // Velocity interpolates references in double-quoted strings, not single-quoted.
                if q == b'"' && s.contains('$') {
                    let line = self.line();
                    let nodes = Parser::new(&s).block(&[]).map_err(|e| VtlError {
                        line,
                        message: format!("in \"{s}\": {}", e.message),
                    })?;
                    if nodes
                        .0
                        .iter()
                        .any(|n| !matches!(n, Node::Text(_) | Node::Ref(..)))
                    {
                        return self.err(format!("directives inside the string \"{s}\""));
                    }
                    return Ok(Expr::Interp(nodes.0));
                }
                Ok(Expr::Str(s))
            }
            Some(b) if b.is_ascii_digit() || *b == b'-' => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .src
                    .get(self.pos)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
                {
                    self.pos += 1;
                }
                let s = String::from_utf8_lossy(&self.src[start..self.pos]).to_string();
                let n = if s.contains('.') {
                    s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                } else {
                    s.parse::<i64>().ok().map(serde_json::Number::from)
                };
                n.map(Expr::Num)
                    .map_or_else(|| self.err(format!("bad number `{s}`")), Ok)
            }
            _ if self.starts("true") => {
                self.pos += 4;
                Ok(Expr::Bool(true))
            }
            _ if self.starts("false") => {
                self.pos += 5;
                Ok(Expr::Bool(false))
            }
            _ => self.err("expected an expression"),
        }
    }
}

fn flush(text: &mut String, nodes: &mut Vec<Node>) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text)));
    }
}

struct Scope<'a> {
    request: &'a Request,
    body: Value,
    vars: Vec<(String, Val)>,
}

impl Scope<'_> {
    fn run(&mut self, nodes: &[Node], out: &mut String) -> Result<(), VtlError> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Ref(e, line) => {
                    let v = self.eval(e, *line)?;
                    out.push_str(&display(&v));
                }
                Node::If(arms, otherwise, line) => {
                    let mut taken = false;
                    for (cond, body) in arms {
                        if truthy(&self.eval(cond, *line)?) {
                            self.run(body, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.run(otherwise, out)?;
                    }
                }
                Node::Foreach(var, list, body, line) => {
                    let items = match self.eval(list, *line)? {
                        Val::Json(Value::Array(a)) => a,
                        Val::Json(Value::Null) => Vec::new(),
                        Val::Json(Value::Object(m)) => m.into_iter().map(|(_, v)| v).collect(),
                        other => {
                            return Err(VtlError {
                                line: *line,
                                message: format!("#foreach over {} (not a list)", display(&other)),
                            })
                        }
                    };
                    let n = items.len();
                    for (i, item) in items.into_iter().enumerate() {
                        self.vars.push((var.clone(), Val::Json(item)));
                        self.vars.push((
                            "foreach".into(),
                            Val::Foreach {
                                has_next: i + 1 < n,
                                index: i,
                            },
                        ));
                        let r = self.run(body, out);
                        self.vars.pop();
                        self.vars.pop();
                        r?;
                    }
                }
                Node::Set(var, e, line) => {
                    let v = self.eval(e, *line)?;
                    self.vars.push((var.clone(), v));
                }
            }
        }
        Ok(())
    }

    fn eval(&self, e: &Expr, line: usize) -> Result<Val, VtlError> {
        let fail = |message: String| VtlError { line, message };
        Ok(match e {
            Expr::Str(s) => Val::Json(Value::String(s.clone())),
            Expr::Interp(nodes) => {
                let mut text = String::new();
                for n in nodes {
                    match n {
                        Node::Ref(e, _) => text.push_str(&display(&self.eval(e, line)?)),
                        Node::Text(t) => text.push_str(t),
                        _ => return Err(fail("a directive inside a string".into())),
                    }
                }
                Val::Json(Value::String(text))
            }
            Expr::Num(n) => Val::Json(Value::Number(n.clone())),
            Expr::Bool(b) => Val::Json(Value::Bool(*b)),
            Expr::Not(e) => Val::Json(Value::Bool(!truthy(&self.eval(e, line)?))),
            Expr::Binary(l, op, r) => {
                let (l, r) = (self.eval(l, line)?, self.eval(r, line)?);
                Val::Json(Value::Bool(match op {
                    Op::Eq => equal(&l, &r),
                    Op::Ne => !equal(&l, &r),
                    Op::And => truthy(&l) && truthy(&r),
                    Op::Or => truthy(&l) || truthy(&r),
                }))
            }
            Expr::Path(name, steps) => {
                let mut v = match name.as_str() {
                    "input" => Val::Input,
                    "util" => Val::Util,
                    _ => self
                        .vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| fail(format!("unknown variable ${name}")))?,
                };
                for step in steps {
                    v = self.step(v, step, line)?;
                }
                v
            }
        })
    }

    fn step(&self, v: Val, step: &Step, line: usize) -> Result<Val, VtlError> {
        let fail = |message: String| VtlError { line, message };
        let args = |a: &[Expr]| -> Result<Vec<String>, VtlError> {
            a.iter()
                .map(|e| self.eval(e, line).map(|v| display(&v)))
                .collect()
        };
        let one = |name: &str, a: &[Expr]| -> Result<String, VtlError> {
            let mut a = args(a)?;
            if a.len() != 1 {
                return Err(fail(format!("{name}() takes one argument")));
            }
            Ok(a.remove(0))
        };
        Ok(match (v, step) {
            (Val::Input, Step::Prop(p)) if p == "body" => {
                Val::Json(Value::String(self.request.body.clone()))
            }
            (Val::Input, Step::Call(m, a)) if m == "params" => {
                let name = one("$input.params", a)?;
                Val::Json(
                    self.request
                        .param(&name)
                        .map(|s| Value::String(s.clone()))
                        .unwrap_or(Value::String(String::new())),
                )
            }
            (Val::Input, Step::Call(m, a)) if m == "path" => {
                let p = one("$input.path", a)?;
                Val::Json(json_path(&self.body, &p).map_err(fail)?)
            }
            (Val::Input, Step::Call(m, a)) if m == "json" => {
                let p = one("$input.json", a)?;
                let v = json_path(&self.body, &p).map_err(fail)?;
                Val::Json(Value::String(v.to_string()))
            }
            (Val::Util, Step::Call(m, a)) => {
                let s = one(&format!("$util.{m}"), a)?;
                let b64 = base64::engine::general_purpose::STANDARD;
                Val::Json(Value::String(match m.as_str() {
                    "base64Encode" => b64.encode(s.as_bytes()),
                    "base64Decode" => String::from_utf8_lossy(
                        &b64.decode(s.trim())
                            .map_err(|e| fail(format!("$util.base64Decode: {e}")))?,
                    )
                    .to_string(),
                    "escapeJavaScript" => {
                        let q = Value::String(s).to_string();
                        q[1..q.len() - 1].to_string()
                    }
                    "urlEncode" => percent_encoding::utf8_percent_encode(
                        &s,
                        percent_encoding::NON_ALPHANUMERIC,
                    )
                    .to_string(),
                    other => return Err(fail(format!("$util.{other} is not supported"))),
                }))
            }
            (Val::Foreach { has_next, .. }, Step::Prop(p)) if p == "hasNext" => {
                Val::Json(Value::Bool(has_next))
            }
            (Val::Foreach { index, .. }, Step::Prop(p)) if p == "index" => {
                Val::Json(serde_json::json!(index))
            }
            (Val::Foreach { index, .. }, Step::Prop(p)) if p == "count" => {
                Val::Json(serde_json::json!(index + 1))
            }
            (Val::Json(Value::Object(m)), Step::Prop(p)) => {
                Val::Json(m.get(p).cloned().unwrap_or(Value::Null))
            }
            (Val::Json(Value::Object(m)), Step::Call(c, a)) if c == "get" => {
                let k = one("get", a)?;
                Val::Json(m.get(&k).cloned().unwrap_or(Value::Null))
            }
            (Val::Json(Value::Array(l)), Step::Call(c, _)) if c == "size" => {
                Val::Json(serde_json::json!(l.len()))
            }
            (Val::Json(Value::Null), Step::Prop(_)) => Val::Json(Value::Null),
            (v, Step::Prop(p) | Step::Call(p, _)) => {
                return Err(fail(format!("{} has no member `{p}`", kind(&v))))
            }
        })
    }
}

fn kind(v: &Val) -> &'static str {
    match v {
        Val::Input => "$input",
        Val::Util => "$util",
        Val::Foreach { .. } => "$foreach",
        Val::Json(Value::String(_)) => "a string",
        Val::Json(Value::Array(_)) => "a list",
        Val::Json(Value::Object(_)) => "a map",
        Val::Json(_) => "a scalar",
    }
}

/// A reference's text. Null renders empty; maps and lists render as the Java objects API
/// Gateway's engine holds (JSONPath results are `java.util.Map`s and `List`s): `{k=v, k2=v2}` and
/// `[a, b]`, strings unquoted — not as JSON. A template that needs JSON text calls
/// `$input.json(..)` (API Gateway Developer Guide, "Mapping template reference": `$input.path`
/// "returns an object representation", `$input.json` "a JSON string").
fn display(v: &Val) -> String {
    match v {
        Val::Json(Value::Null) => String::new(),
        Val::Json(j) => java_text(j),
        other => kind(other).to_string(),
    }
}

/// `toString()` of the Java value a JSON value parses to: `String` as is, integers as `Long`,
/// other numbers as `Double`, `LinkedHashMap` as `{k=v, ...}`, `List` as `[a, b]`, null `null`.
fn java_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => java_double(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(java_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", java_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Java's `Double.toString`: a decimal point always (`8.0`), and computerized scientific
/// notation outside [10^-3, 10^7) (`1.0E10`, `1.5E-4`).
fn java_double(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{f}");
        return if s.contains('.') { s } else { format!("{s}.0") };
    }
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

/// Velocity's `==`: numbers by value (`2 == 2.0`), anything else by its text.
fn equal(l: &Val, r: &Val) -> bool {
    match (l, r) {
        (Val::Json(Value::Number(a)), Val::Json(Value::Number(b))) => a.as_f64() == b.as_f64(),
        _ => display(l) == display(r),
    }
}

fn truthy(v: &Val) -> bool {
    match v {
        Val::Json(Value::Null) | Val::Json(Value::Bool(false)) => false,
        Val::Json(Value::String(s)) => !s.is_empty(),
        _ => true,
    }
}

/// JSONPath as API Gateway's `$input.path`: `$`, `.name`, `['name']`, `[n]`.
fn json_path(root: &Value, path: &str) -> Result<Value, String> {
    let p = path.trim();
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(format!("JSONPath `{path}` must start with `$`"));
    };
    let mut cur = root;
    let null = Value::Null;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("JSONPath `{path}`: empty member name"));
            }
            cur = cur.get(key).unwrap_or(&null);
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("JSONPath `{path}`: missing `]`"))?;
            let inner = r[..end].trim();
            cur = if let Some(k) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                cur.get(k).unwrap_or(&null)
            } else {
                let i: usize = inner
                    .parse()
                    .map_err(|_| format!("JSONPath `{path}`: `[{inner}]` is not supported"))?;
                cur.get(i).unwrap_or(&null)
            };
            rest = &r[end + 1..];
        } else {
            return Err(format!("JSONPath `{path}`: unexpected `{rest}`"));
        }
    }
    Ok(cur.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str, stream: &str) -> Request {
        Request {
            body: body.into(),
            path: [("stream-name".to_string(), stream.to_string())].into(),
            ..Default::default()
        }
    }

    fn template(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates/apigateway")
                .join(name),
        )
        .unwrap()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn put_record_template_encodes_the_data_object() {
        let body =
            r#"{"StreamName":"s","Data":{"index":7,"title":"a \"b\""},"PartitionKey":"pk-1"}"#;
        let out = render(
            &template("put-record.vtl"),
            &request(body, "streaming-x-pin"),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["StreamName"], "streaming-x-pin");
        assert_eq!(v["PartitionKey"], "pk-1");
        assert_eq!(v["Data"], b64(r#"{"index":7,"title":"a \"b\""}"#));
    }

    #[test]
    fn maps_and_lists_render_as_java_objects_not_json() {
        let body =
            r#"{"a":{"k":1,"s":"x y","l":[1,2.0,"y",null,true],"m":{},"d":1e10,"e":0.00015}}"#;
        assert_eq!(
            render("$input.path('$.a')", &request(body, "")).unwrap(),
            "{k=1, s=x y, l=[1, 2.0, y, null, true], m={}, d=1.0E10, e=1.5E-4}"
        );
        assert_eq!(
            render(
                "#set($l = $input.path('$.a.l'))$l|$input.path('$.a.l[1]')|$input.path('$.none')",
                &request(body, "")
            )
            .unwrap(),
            "[1, 2.0, y, null, true]|2.0|"
        );
        // What PutRecords with `$util.base64Encode($elem.data)` sends for an object.
        let t = "#foreach($elem in $input.path('$.records'))$util.base64Encode($elem.data)#end";
        assert_eq!(
            render(t, &request(r#"{"records":[{"data":{"k":1,"v":"a"}}]}"#, "")).unwrap(),
            b64("{k=1, v=a}")
        );
        // JSON text comes from $input.json, with an index interpolated into the path.
        let t = r#"#foreach($elem in $input.path('$.records'))$input.json("$.records[$foreach.index].data")#end"#;
        assert_eq!(
            render(
                t,
                &request(r#"{"records":[{"data":{"k":1}},{"data":"s"}]}"#, "")
            )
            .unwrap(),
            r#"{"k":1}"s""#
        );
        // Single quotes are literal, double quotes interpolate.
        assert_eq!(
            render("#set($a = '$x')#set($b = \"v$a\")$a|$b", &request("{}", "")).unwrap(),
            "$x|v$x"
        );
    }

    #[test]
    fn put_records_template_loops_with_commas_between() {
        let body = r#"{"records":[{"data":"one","partition-key":"a"},{"data":{"k":1},"partition-key":"b"}]}"#;
        let out = render(&template("put-records.vtl"), &request(body, "st")).unwrap();
        let v: Value = serde_json::from_str(&out).expect(&out);
        let recs = v["Records"].as_array().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0]["Data"], b64("\"one\""));
        assert_eq!(recs[0]["PartitionKey"], "a");
        assert_eq!(recs[1]["Data"], b64(r#"{"k":1}"#));
        assert_eq!(recs[1]["PartitionKey"], "b");
        let empty = render(
            &template("put-records.vtl"),
            &request(r#"{"records":[]}"#, "st"),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(v["Records"], serde_json::json!([]));
    }

    #[test]
    fn create_stream_template_defaults_the_shard_count() {
        let t = template("create-stream.vtl");
        let with: Value =
            serde_json::from_str(&render(&t, &request(r#"{"ShardCount":2}"#, "s")).unwrap())
                .unwrap();
        assert_eq!(with["ShardCount"], 2);
        let without: Value =
            serde_json::from_str(&render(&t, &request("{}", "s")).unwrap()).unwrap();
        assert_eq!(without["ShardCount"], 5);
        assert_eq!(without["StreamName"], "s");
    }

    #[test]
    fn conditions_sets_and_comments() {
        let t = "##c\n#set($n = $input.path('$.a.b[1]'))#if($n == 2 && !$input.path('$.no'))two#elseif($n)other#{else}none#end";
        assert_eq!(
            render(t, &request(r#"{"a":{"b":[1,2]}}"#, "")).unwrap(),
            "two"
        );
        assert_eq!(
            render(t, &request(r#"{"a":{"b":[1,3]}}"#, "")).unwrap(),
            "other"
        );
        assert_eq!(render(t, &request(r#"{"a":{}}"#, "")).unwrap(), "none");
        assert_eq!(
            render(
                "$input.json('$') | $input.params('q') | #x $5",
                &Request {
                    body: r#"{"z": [1]}"#.into(),
                    query: [("q".to_string(), "v".to_string())].into(),
                    ..Default::default()
                }
            )
            .unwrap(),
            r#"{"z":[1]} | v | #x $5"#
        );
    }

    #[test]
    fn unsupported_or_broken_templates_name_the_line() {
        let e = render("{\n  #macro(x)#end\n}", &request("{}", "")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("#macro"), "{e}");
        let e = render("a\nb\n#if($input.path('$.x'))x", &request("{}", "")).unwrap_err();
        assert!(e.message.contains("#if without #end"), "{e}");
        let e = render("$nothing.here", &request("{}", "")).unwrap_err();
        assert!(e.message.contains("unknown variable $nothing"), "{e}");
        let e = render("$util.sha('x')", &request("{}", "")).unwrap_err();
        assert!(e.message.contains("$util.sha"), "{e}");
    }

    #[test]
    fn malformed_bodies_do_not_panic() {
        for body in ["", "not json", "[1,2", "{\"Data\": null}", "\u{0}"] {
            let _ = render(&template("put-record.vtl"), &request(body, "s"));
            let _ = render(&template("put-records.vtl"), &request(body, "s"));
        }
    }
}
