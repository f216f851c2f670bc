//! What one request may ask for, counted on the parsed document before it is validated or run:
//! aliases, selection depth, fields and fragment spreads, with every fragment spread expanded
//! where it is used (so spreading one fragment many times, or fragments spreading each other,
//! counts every copy). Each count stops the walk as soon as it passes its limit, so a document
//! that would expand without end costs no more than the limits. Every operation and fragment
//! of the document is bounded, not only the one run: validation reads them all.
//!
//! The walk knows the schema, so it also names the two mistakes AppSync words its own way: a
//! field the type does not have (`FieldUndefined`, with its path) and introspection, which this
//! API does not answer.

use super::request::{invalid, root_type};
use super::{MAX_ALIASES, MAX_FIELDS, MAX_FRAGMENT_SPREADS, MAX_SELECTION_DEPTH};
use apollo_compiler::ast::{Definition, Document, FragmentDefinition, Selection};
use apollo_compiler::Schema;
use std::collections::HashMap;
use tokenbridge_core::appsync::GraphqlRejection;

/// Checks every operation and fragment of `document` against the limits.
pub(super) fn within_limits(document: &Document, schema: &Schema) -> Result<(), GraphqlRejection> {
    let fragments: HashMap<&str, &FragmentDefinition> = document
        .definitions
        .iter()
        .filter_map(Definition::as_fragment_definition)
        .map(|f| (f.name.as_str(), &**f))
        .collect();
    for definition in &document.definitions {
        let (selection, parent) = match definition {
            Definition::OperationDefinition(op) => (&op.selection_set, root_type(op.operation_type)),
            Definition::FragmentDefinition(f) => (&f.selection_set, Some(f.type_condition.as_str())),
            _ => continue,
        };
        let mut walk = Walk { schema, fragments: &fragments, count: Count::default(), expanding: Vec::new() };
        walk.selection_set(selection, parent, 1, &mut Vec::new())?;
    }
    Ok(())
}

#[derive(Default)]
struct Count {
    aliases: usize,
    fields: usize,
    spreads: usize,
}

struct Walk<'a> {
    schema: &'a Schema,
    fragments: &'a HashMap<&'a str, &'a FragmentDefinition>,
    count: Count,
    /// The fragments being expanded, outermost first: a spread of one of them is a cycle, left
    /// to validation to report.
    expanding: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    /// One selection set at `depth` (top-level fields are at 1) of the type `parent` (`None`
    /// when the document names a type the schema does not have: validation reports it).
    fn selection_set(
        &mut self,
        selection: &'a [Selection],
        parent: Option<&'a str>,
        depth: usize,
        path: &mut Vec<&'a str>,
    ) -> Result<(), GraphqlRejection> {
        if depth > MAX_SELECTION_DEPTH {
            return Err(invalid(format!(
                "Validation error: the query's depth {depth} is over the depth limit of {MAX_SELECTION_DEPTH}."
            )));
        }
        for s in selection {
            match s {
                Selection::Field(f) => {
                    self.count.fields += 1;
                    if self.count.fields > MAX_FIELDS {
                        return Err(invalid(format!(
                            "Validation error: the query selects more than the limit of {MAX_FIELDS} fields per request."
                        )));
                    }
                    if f.alias.is_some() {
                        self.count.aliases += 1;
                        if self.count.aliases > MAX_ALIASES {
                            return Err(invalid(format!(
                                "Validation error: the query uses more than the limit of {MAX_ALIASES} aliases per request."
                            )));
                        }
                    }
                    let key = f.alias.as_ref().unwrap_or(&f.name).as_str();
                    let inner = self.field_type(parent, f.name.as_str(), path)?;
                    if !f.selection_set.is_empty() {
                        path.push(key);
                        self.selection_set(&f.selection_set, inner, depth + 1, path)?;
                        path.pop();
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.type_condition.as_ref().map(|t| t.as_str()).or(parent);
                    self.selection_set(&inline.selection_set, on, depth, path)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.count.spreads += 1;
                    if self.count.spreads > MAX_FRAGMENT_SPREADS {
                        return Err(invalid(format!(
                            "Validation error: the query expands more than the limit of {MAX_FRAGMENT_SPREADS} \
                             fragment spreads per request."
                        )));
                    }
                    let name = spread.fragment_name.as_str();
                    let Some(fragment) = self.fragments.get(name) else { continue };
                    if self.expanding.contains(&name) {
                        continue;
                    }
                    self.expanding.push(name);
                    self.selection_set(&fragment.selection_set, Some(fragment.type_condition.as_str()), depth, path)?;
                    self.expanding.pop();
                }
            }
        }
        Ok(())
    }

    /// The type a field of `parent` selects into, refusing a field the type does not have and
    /// introspection.
    fn field_type(
        &self,
        parent: Option<&'a str>,
        name: &str,
        path: &[&str],
    ) -> Result<Option<&'a str>, GraphqlRejection> {
        let at = path.iter().copied().chain([name]).collect::<Vec<_>>().join("/");
        match name {
            "__typename" => Ok(None),
            "__schema" | "__type" => Err(invalid(format!(
                "Validation error of type IntrospectionDisabled: introspection is disabled for this API; \
                 {name} is not answered @ '{at}'"
            ))),
            _ => {
                let Some(parent) = parent else { return Ok(None) };
                match self.schema.type_field(parent, name) {
                    Ok(field) => Ok(Some(field.ty.inner_named_type().as_str())),
                    Err(_) if self.schema.get_object(parent).is_some() => Err(invalid(format!(
                        "Validation error of type FieldUndefined: Field '{name}' in type '{parent}' is undefined @ '{at}'"
                    ))),
                    Err(_) => Ok(None),
                }
            }
        }
    }
}
