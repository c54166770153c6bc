//! The resolver: matches a path to a route with matchit, keeping Django's in-order semantics,
//! and reverses route names back into paths. It knows routes by pattern, name and metadata;
//! the views they lead to are the handler's.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::converters::Converters;
use super::pattern::Pattern;
use super::{NoReverseMatch, UrlArg, UrlConfError};

/// A route as a URL conf lists it, flattened: its whole pattern (`/contacts/<int:pk>/`), its
/// name with its namespaces (`crm:contact-detail`), and its metadata.
pub struct RouteSpec {
    /// The whole pattern, from the root.
    pub pattern: String,
    /// The name with its namespaces.
    pub name: Option<String>,
    /// What the route says about itself to the middleware (`csrf_exempt`, a permission…).
    pub meta: http::Extensions,
    /// The methods the route takes (HEAD wherever GET is); empty when it takes every method.
    pub methods: Vec<http::Method>,
}

/// One route of the compiled URL conf, shared by every request it matches.
#[derive(Debug)]
pub struct Route {
    index: usize,
    pattern: String,
    name: Option<String>,
    meta: http::Extensions,
    methods: Vec<http::Method>,
}

impl Route {
    /// The route's position in the URL conf (the handler keeps its views by it).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The whole pattern (`/contacts/<int:pk>/`).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The name with its namespaces (`crm:contact-detail`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The route's metadata of type `T` (`csrf_exempt` is CSRF's, `login_not_required` auth's).
    pub fn meta<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.meta.get::<T>()
    }

    /// The methods the route takes, HEAD wherever GET is; empty when its view takes every
    /// method (a bare view function). What a 405 lists in `Allow`, and what a test walking the
    /// URL conf tries.
    pub fn methods(&self) -> &[http::Method] {
        &self.methods
    }
}

/// What the resolver found for a path (Django's `ResolverMatch`): the route and the path
/// parameters, each already checked by its converter.
#[derive(Debug, Clone)]
pub struct ResolverMatch {
    route: Arc<Route>,
    params: Vec<(String, String)>,
}

impl ResolverMatch {
    /// The route that matched.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The path parameters in pattern order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

struct Compiled {
    pattern: Pattern,
    /// The pattern's matchit shape, made once: every later route is compared with it.
    shape: String,
    route: Arc<Route>,
    /// Earlier routes of another shape that could match the same paths: Django tries patterns
    /// in order, so one of these wins over this route when its converters accept. Found the
    /// first time the route matches: comparing every pair of routes at start grew with the
    /// square of the URL conf, and was most of a cold start once the admin's routes came.
    shadowed_by: OnceLock<Vec<usize>>,
}

/// The site's compiled URL conf.
pub struct Resolver {
    routes: Vec<Compiled>,
    /// One matchit route per shape; its value indexes `candidates`, the routes of that shape in
    /// URL-conf order (matchit itself refuses two routes of one shape).
    router: matchit::Router<usize>,
    candidates: Vec<Vec<usize>>,
    by_name: HashMap<String, usize>,
    /// The path of every named route without parameters, built once: most `url()` calls.
    fixed_paths: HashMap<String, String>,
}

impl Resolver {
    /// Compiles routes in URL-conf order, parsing every pattern and reporting every problem at
    /// once. A route's index is its position in `specs`.
    pub fn build(specs: Vec<RouteSpec>, converters: &Converters) -> Result<Resolver, Vec<UrlConfError>> {
        let mut errors = Vec::new();
        let mut routes: Vec<Compiled> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut shapes: HashMap<String, usize> = HashMap::new();
        let mut candidates: Vec<Vec<usize>> = Vec::new();
        let mut router = matchit::Router::new();

        for (index, RouteSpec { pattern: text, name, meta, methods }) in specs.into_iter().enumerate() {
            let pattern = match Pattern::parse(&text, converters) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let idx = routes.len();
            if let Some(name) = &name {
                if let Some(&prev) = by_name.get(name) {
                    errors.push(UrlConfError::DuplicateName {
                        name: name.clone(),
                        first: routes[prev].pattern.text.clone(),
                        second: text.clone(),
                    });
                } else {
                    by_name.insert(name.clone(), idx);
                }
            }
            let shape = pattern.shape();
            let slot = match shapes.get(&shape) {
                Some(&slot) => slot,
                None => {
                    // matchit refuses some shapes Django allows side by side (a catch-all beside
                    // a parameter in the same place); those routes are found by the ordered scan.
                    let _ = router.insert(shape.as_str(), candidates.len());
                    shapes.insert(shape.clone(), candidates.len());
                    candidates.push(Vec::new());
                    candidates.len() - 1
                }
            };
            if let Some(&same) = candidates[slot].iter().find(|&&i| same_converters(&routes[i].pattern, &pattern)) {
                errors.push(UrlConfError::Conflict {
                    pattern: text.clone(),
                    why: format!("it repeats `{}`, listed earlier, so it could never match", routes[same].pattern.text),
                });
                continue;
            }
            candidates[slot].push(idx);
            let route = Arc::new(Route { index, pattern: text, name, meta, methods });
            routes.push(Compiled { pattern, shape, route, shadowed_by: OnceLock::new() });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let fixed_paths = by_name
            .iter()
            .filter(|(_, i)| routes[**i].pattern.param_names().next().is_none())
            .filter_map(|(name, i)| routes[*i].pattern.build(&[]).ok().map(|p| (name.clone(), p)))
            .collect();
        Ok(Resolver { routes, router, candidates, by_name, fixed_paths })
    }

    /// The route for a decoded path, as Django would pick it: the first pattern, in URL-conf
    /// order, whose converters accept the path.
    pub fn resolve(&self, path: &str) -> Option<ResolverMatch> {
        let fast = self.router.at(path).ok().and_then(|m| {
            self.candidates[*m.value].iter().find_map(|&i| self.routes[i].pattern.match_path(path).map(|p| (i, p)))
        });
        let (idx, params) = match fast {
            Some((i, params)) => {
                let earlier =
                    self.shadowed_by(i).iter().find_map(|&j| self.routes[j].pattern.match_path(path).map(|p| (j, p)));
                earlier.unwrap_or((i, params))
            }
            // matchit prefers static segments and does not retry other shapes once converters
            // refuse, so a path it cannot place is checked against every pattern in order.
            None => self.routes.iter().enumerate().find_map(|(i, r)| r.pattern.match_path(path).map(|p| (i, p)))?,
        };
        Some(ResolverMatch { route: self.routes[idx].route.clone(), params })
    }

    /// The routes before route `i` whose shape differs from its own but could match the same
    /// paths (see [`Compiled::shadowed_by`]).
    fn shadowed_by(&self, i: usize) -> &[usize] {
        self.routes[i].shadowed_by.get_or_init(|| {
            let shape = &self.routes[i].shape;
            self.routes[..i]
                .iter()
                .enumerate()
                .filter(|(_, r)| r.shape != *shape && may_overlap(&r.shape, shape))
                .map(|(j, _)| j)
                .collect()
        })
    }

    /// Reverses `name` with positional arguments into a path (without any script prefix).
    pub fn reverse(&self, name: &str, args: &[&dyn UrlArg]) -> Result<String, NoReverseMatch> {
        if args.is_empty()
            && let Some(path) = self.fixed_paths.get(name)
        {
            return Ok(path.clone());
        }
        let route = self.named(name)?;
        let values: Vec<String> = args.iter().map(|a| a.to_url_arg()).collect();
        let count = route.pattern.param_names().count();
        if values.len() != count {
            return Err(NoReverseMatch(format!(
                "Reverse for '{name}' with arguments {values:?} not found: `{}` takes {}",
                route.pattern.text,
                route.pattern.describe_params()
            )));
        }
        route.pattern.build(&values).map_err(|i| {
            NoReverseMatch(format!(
                "Reverse for '{name}' with arguments {values:?} not found: {:?} does not fit {} in `{}`",
                values[i],
                route.pattern.describe_params(),
                route.pattern.text
            ))
        })
    }

    /// Reverses `name` with named arguments; every parameter must be given, and no others.
    pub fn reverse_kwargs(&self, name: &str, kwargs: &[(&str, &dyn UrlArg)]) -> Result<String, NoReverseMatch> {
        let route = self.named(name)?;
        let names: Vec<&str> = route.pattern.param_names().collect();
        let unknown: Vec<&str> = kwargs.iter().map(|(k, _)| *k).filter(|k| !names.contains(k)).collect();
        let mut ordered: Vec<&dyn UrlArg> = Vec::new();
        for n in &names {
            match kwargs.iter().find(|(k, _)| k == n) {
                Some((_, v)) => ordered.push(*v),
                None => {
                    return Err(NoReverseMatch(format!(
                        "Reverse for '{name}' is missing the argument `{n}`: `{}` takes {}",
                        route.pattern.text,
                        route.pattern.describe_params()
                    )));
                }
            }
        }
        if !unknown.is_empty() {
            return Err(NoReverseMatch(format!(
                "Reverse for '{name}' got unexpected argument(s) {unknown:?}: `{}` takes {}",
                route.pattern.text,
                route.pattern.describe_params()
            )));
        }
        self.reverse(name, &ordered)
    }

    fn named(&self, name: &str) -> Result<&Compiled, NoReverseMatch> {
        match self.by_name.get(name) {
            Some(&i) => Ok(&self.routes[i]),
            None => {
                let suffix = format!(":{name}");
                let hints: Vec<&str> =
                    self.by_name.keys().filter(|k| k.ends_with(&suffix)).map(|k| k.as_str()).collect();
                let hint =
                    if hints.is_empty() { String::new() } else { format!(" Did you mean {}?", hints.join(" or ")) };
                Err(NoReverseMatch(format!("Reverse for '{name}' not found: no route has that name.{hint}")))
            }
        }
    }

    /// Every route as (pattern, name), in URL-conf order: for the debug 404 page and `check`.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.routes.iter().map(|r| (r.pattern.text.as_str(), r.route.name()))
    }

    /// Every route, in URL-conf order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(|r| r.route.as_ref())
    }
}

fn same_converters(a: &Pattern, b: &Pattern) -> bool {
    use super::pattern::Part;
    a.parts.len() == b.parts.len()
        && a.parts.iter().zip(&b.parts).all(|(x, y)| match (x, y) {
            (Part::Literal(l), Part::Literal(m)) => l == m,
            (Part::Param { kind: k1, .. }, Part::Param { kind: k2, .. }) => k1 == k2,
            _ => false,
        })
}

/// Whether two matchit shapes could match one path (conservative: true when unsure).
fn may_overlap(a: &str, b: &str) -> bool {
    // Byte by byte, segment by segment, without searching or collecting: the shapes are ASCII
    // paths whose parameters are `{pN}` segments and whose catch-all, `{*pN}`, ends them.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        let (sa, sb) = (&a[i..], &b[j..]);
        if sa.starts_with(b"{*") || sb.starts_with(b"{*") {
            return true;
        }
        let end_a = sa.iter().position(|&c| c == b'/').unwrap_or(sa.len());
        let end_b = sb.iter().position(|&c| c == b'/').unwrap_or(sb.len());
        let (x, y) = (&sa[..end_a], &sb[..end_b]);
        if x != y && !x.starts_with(b"{") && !y.starts_with(b"{") {
            return false;
        }
        match (end_a < sa.len(), end_b < sb.len()) {
            (true, true) => (i, j) = (i + end_a + 1, j + end_b + 1),
            (false, false) => return true,
            // One has more segments: only a catch-all there would let them overlap.
            (true, false) => return sa[end_a + 1..].starts_with(b"{*"),
            (false, true) => return sb[end_b + 1..].starts_with(b"{*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_overlap;

    #[test]
    fn shapes_overlap_where_one_path_could_match_both() {
        for (a, b) in [
            ("/items/{p0}/", "/items/new/"),
            ("/items/{p0}/", "/{p0}/new/"),
            ("/files/{*p0}", "/files/a/b/"),
            ("/{*p0}", "/contacts/"),
            ("/a/", "/a/"),
            ("/a/{*p0}", "/a/"),
        ] {
            assert!(may_overlap(a, b), "{a} and {b}");
            assert!(may_overlap(b, a), "{b} and {a}");
        }
        for (a, b) in [
            ("/items/{p0}/", "/items/{p0}/edit/"),
            ("/static/{*p0}", "/contacts/{p0}/"),
            ("/a/b/", "/a/c/"),
            ("/a/", "/a/b/"),
            ("", "/"),
        ] {
            assert!(!may_overlap(a, b), "{a} and {b}");
            assert!(!may_overlap(b, a), "{b} and {a}");
        }
    }
}
