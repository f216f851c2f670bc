//! Reading untrusted XML: refused before parsing when it declares anything (`<!DOCTYPE`,
//! `<!ENTITY`, …), parsed by roxmltree with DTDs off and a node limit, refused when nested
//! deeper than any SAML message needs (the canonicalizer recurses), and read by namespace.

use roxmltree::{Document, Node, ParsingOptions};

use crate::{Check, Rejection};

/// Deeper than any Response (Response/Assertion/AttributeStatement/Attribute/AttributeValue is 5;
/// an encrypted one adds 4), shallow enough for the recursive canonicalizer's stack.
pub const MAX_DEPTH: usize = 40;
/// Elements, attributes and text nodes together (a 256 KiB response of many attributes stays far below).
pub const MAX_NODES: u32 = 50_000;

/// Any markup declaration (DOCTYPE, ENTITY, ELEMENT, ATTLIST, NOTATION) is refused here, before
/// a parser sees it: no entity is ever defined, expanded or fetched. Only comments and CDATA
/// sections may start with `<!`.
pub fn refuse_declarations(text: &str) -> Result<(), Rejection> {
    let mut rest = text;
    while let Some(at) = rest.find("<!") {
        let after = &rest[at + 2..];
        if !(after.starts_with("--") || after.starts_with("[CDATA[")) {
            let word: String = after.chars().take_while(|c| c.is_ascii_alphabetic()).take(10).collect();
            return Err(Rejection::new(
                Check::Dtd,
                format!("the document declares <!{word}: no DTD or entity is read (XXE and entity expansion)"),
            ));
        }
        rest = after;
    }
    Ok(())
}

/// Parses a document that passed [`refuse_declarations`].
pub fn parse(text: &str) -> Result<Document<'_>, Rejection> {
    refuse_declarations(text)?;
    let options = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, options)
        .map_err(|e| Rejection::new(Check::Malformed, format!("not well-formed XML: {e}")))?;
    check_depth(&doc)?;
    Ok(doc)
}

fn check_depth(doc: &Document) -> Result<(), Rejection> {
    let mut depth = vec![0usize; doc.descendants().count() + 1];
    for node in doc.descendants() {
        let d = node.parent().map_or(0, |p| depth[p.id().get_usize()] + 1);
        if d > MAX_DEPTH {
            return Err(Rejection::new(Check::Malformed, format!("elements nested deeper than {MAX_DEPTH}")));
        }
        depth[node.id().get_usize()] = d;
    }
    Ok(())
}

pub fn is(node: Node, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

pub fn children<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(*c, ns, local))
}

pub fn child<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> Option<Node<'a, 'i>> {
    children(node, ns, local).next()
}

/// The one child of that name, if any; two are malformed (a reader taking the first and another
/// taking the last would disagree).
pub fn single_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> Result<Option<Node<'a, 'i>>, Rejection> {
    let mut found = children(node, ns, local);
    let first = found.next();
    if first.is_some() && found.next().is_some() {
        return Err(Rejection::new(Check::Malformed, format!("more than one {local} in {}", node.tag_name().name())));
    }
    Ok(first)
}

pub fn required_child<'a, 'i>(node: Node<'a, 'i>, ns: &'a str, local: &'a str) -> Result<Node<'a, 'i>, Rejection> {
    single_child(node, ns, local)?
        .ok_or_else(|| Rejection::new(Check::Malformed, format!("{} has no {local}", node.tag_name().name())))
}

/// The whole text of an element: every text node below it joined, comments skipped. A comment
/// cannot cut a value short (`user@example.com<!---->.evil.com` reads in full, as it was signed).
pub fn text(node: Node) -> String {
    node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()
}

/// Text of an element holding one value (a URI, an ID, a time): leading and trailing XML
/// whitespace dropped, child elements refused.
pub fn simple_text(node: Node) -> Result<String, Rejection> {
    if node.children().any(|c| c.is_element()) {
        return Err(Rejection::new(
            Check::Malformed,
            format!("{} holds elements, not a value", node.tag_name().name()),
        ));
    }
    Ok(text(node).trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r')).to_string())
}

/// The qualified name of an element as written (roxmltree keeps only the expanded name).
pub fn qname<'i>(node: Node<'_, 'i>) -> &'i str {
    let source = node.document().input_text();
    let start = node.range().start + 1;
    let rest = &source[start..];
    let end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(rest.len());
    &rest[..end]
}

/// The prefix of an element as written; `None` for the default namespace.
pub fn prefix<'i>(node: Node<'_, 'i>) -> Option<&'i str> {
    qname(node).split_once(':').map(|(p, _)| p)
}

/// The qualified name of an attribute as written.
pub fn attribute_qname<'i>(node: Node<'_, 'i>, attribute: &roxmltree::Attribute<'_, 'i>) -> &'i str {
    &node.document().input_text()[attribute.range_qname()]
}

/// Escapes text for element content.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for a double-quoted attribute value.
pub fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
    out
}
