//! The template functions `url()` and `static()`.

use std::sync::Arc;

use tera::{Kwargs, State, TeraResult, Value};

use super::SCRIPT_NAME_VAR;
use crate::staticfiles::StaticFiles;
use crate::urls::{Resolver, UrlArg};

/// Registers `url(name=…, args=[…] | param=…)` and `static(path=…)`.
pub(super) fn register(tera: &mut tera::Tera, resolver: Arc<Resolver>, statics: Arc<StaticFiles>) {
    tera.register_function("url", move |kwargs: Kwargs, state: &State| url(&resolver, kwargs, state));
    tera.register_function("static", move |kwargs: Kwargs, state: &State| -> TeraResult<String> {
        let path: &str = kwargs.must_get("path")?;
        statics.url(path, &script_name(state)?).map_err(|e| tera::Error::message(e.to_string()))
    });
}

fn script_name(state: &State) -> TeraResult<String> {
    Ok(state.get::<String>(SCRIPT_NAME_VAR)?.unwrap_or_default())
}

fn text(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_owned(),
        None => v.to_string(),
    }
}

/// `url(name="crm:contact-detail", args=[contact.id])` or `url(name="…", pk=contact.id)`.
fn url(resolver: &Resolver, kwargs: Kwargs, state: &State) -> TeraResult<String> {
    let name: &str = kwargs.must_get("name")?;
    let path = if kwargs.iter().all(|(k, _)| k.as_str() == Some("name")) {
        // The common case, a route without parameters, is a lookup of its prebuilt path.
        resolver.reverse(name, &[])
    } else {
        let args: Option<Vec<Value>> = kwargs.get("args")?;
        let named: Vec<(String, String)> = kwargs
            .iter()
            .filter(|(k, _)| k.as_str() != Some("name") && k.as_str() != Some("args"))
            .map(|(k, v)| (k.to_string(), text(v)))
            .collect();
        if named.is_empty() {
            let values: Vec<String> = args.unwrap_or_default().iter().map(text).collect();
            let refs: Vec<&dyn UrlArg> = values.iter().map(|v| v as &dyn UrlArg).collect();
            resolver.reverse(name, &refs)
        } else {
            if args.is_some() {
                return Err(tera::Error::message(format!(
                    "url(name=\"{name}\"): give either args=[…] or named arguments, not both"
                )));
            }
            let pairs: Vec<(&str, &dyn UrlArg)> = named.iter().map(|(k, v)| (k.as_str(), v as &dyn UrlArg)).collect();
            resolver.reverse_kwargs(name, &pairs)
        }
    };
    let path = path.map_err(|e| tera::Error::message(e.to_string()))?;
    let prefix = script_name(state)?;
    Ok(if prefix.is_empty() { path } else { format!("{prefix}{path}") })
}
