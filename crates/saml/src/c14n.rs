//! Exclusive XML Canonicalization 1.0 without comments (W3C REC xml-exc-c14n) of one element
//! and everything below it, as a same-document reference `#id` selects it, optionally with one
//! descendant left out (the enveloped-signature transform removes the `ds:Signature` itself).
//!
//! What the input already did: roxmltree expands character and the five predefined entity
//! references, merges CDATA into text, normalizes line ends and attribute whitespace as the XML
//! spec says (so a value is the one every conforming parser sees). What is done here: namespace
//! declarations only where visibly used (the element's or an attribute's prefix) or named in the
//! InclusiveNamespaces PrefixList, and only when the nearest rendered ancestor did not already
//! declare the same; declarations sorted by prefix, attributes by namespace URI then local name;
//! empty elements as start-end pairs; comments dropped; the c14n escapes.

use std::collections::BTreeMap;

use roxmltree::{Node, NodeId};

use crate::xml::{attribute_qname, escape_attribute, escape_text, prefix};

/// The canonical form of `node` and its descendants. `inclusive_prefixes` is the
/// InclusiveNamespaces PrefixList (`#default` for the default namespace).
pub fn exclusive_c14n(node: Node, inclusive_prefixes: &[&str]) -> String {
    canonicalize(node, None, inclusive_prefixes)
}

/// As [`exclusive_c14n`], leaving out the subtree of `exclude` (the enveloped signature).
pub(crate) fn canonicalize(node: Node, exclude: Option<NodeId>, inclusive_prefixes: &[&str]) -> String {
    let mut out = String::with_capacity(node.range().len());
    let canon = Canonicalizer { exclude, inclusive: inclusive_prefixes };
    canon.node(&mut out, node, &Rendered::new());
    out
}

/// Prefix ("" for the default namespace) → URI, as the nearest output ancestors declared it.
type Rendered = BTreeMap<String, String>;

struct Canonicalizer<'p> {
    exclude: Option<NodeId>,
    inclusive: &'p [&'p str],
}

impl Canonicalizer<'_> {
    fn node(&self, out: &mut String, node: Node, rendered: &Rendered) {
        if Some(node.id()) == self.exclude {
            return;
        }
        if node.is_text() {
            out.push_str(&escape_text(node.text().unwrap_or_default()));
        } else if let Some(pi) = node.pi() {
            out.push_str("<?");
            out.push_str(pi.target);
            if let Some(value) = pi.value {
                out.push(' ');
                out.push_str(value);
            }
            out.push_str("?>");
        } else if node.is_element() {
            self.element(out, node, rendered);
        }
        // Comments are not output (exclusive C14N without comments).
    }

    fn element(&self, out: &mut String, node: Node, rendered: &Rendered) {
        let qname = crate::xml::qname(node);
        let mut used: Vec<&str> = vec![prefix(node).unwrap_or("")];
        for attribute in node.attributes() {
            if let Some((p, _)) = attribute_qname(node, &attribute).split_once(':') {
                used.push(p);
            }
        }
        for p in self.inclusive {
            used.push(if *p == "#default" { "" } else { p });
        }
        used.sort_unstable();
        used.dedup();

        let mut declare: Vec<(&str, &str)> = Vec::new();
        for p in used {
            if p == "xml" {
                continue;
            }
            let uri = if p.is_empty() {
                node.default_namespace().unwrap_or("")
            } else {
                match node.namespaces().find(|ns| ns.name() == Some(p)) {
                    Some(ns) => ns.uri(),
                    // An inclusive prefix not in scope here is simply not rendered.
                    None => continue,
                }
            };
            let previous = rendered.get(p).map_or("", String::as_str);
            if previous != uri {
                declare.push((p, uri));
            }
        }

        out.push('<');
        out.push_str(qname);
        let mut inner = rendered.clone();
        for (p, uri) in &declare {
            if p.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(p);
                out.push_str("=\"");
            }
            out.push_str(&escape_attribute(uri));
            out.push('"');
            inner.insert(p.to_string(), uri.to_string());
        }
        let mut attributes: Vec<_> = node.attributes().collect();
        attributes
            .sort_by(|a, b| (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name())));
        for attribute in attributes {
            out.push(' ');
            out.push_str(attribute_qname(node, &attribute));
            out.push_str("=\"");
            out.push_str(&escape_attribute(attribute.value()));
            out.push('"');
        }
        out.push('>');
        for child in node.children() {
            self.node(out, child, &inner);
        }
        out.push_str("</");
        out.push_str(qname);
        out.push('>');
    }
}
