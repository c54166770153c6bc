//! URL conf, resolver and reverse unit tests: a conf as users write it, flattened and compiled.

use super::*;
use crate::error::Result;
use crate::http::Response;
use crate::request::Request;
use crate::urls::{Converters, Resolver, UrlArg};

async fn v(_r: Request) -> Result<Response> {
    Ok(Response::text(""))
}

fn compile(conf: UrlConf) -> std::result::Result<Resolver, Vec<crate::urls::UrlConfError>> {
    let mut flat = Flattened { routes: Vec::new(), views: Vec::new() };
    conf.flatten_into("/", None, &mut flat);
    Resolver::build(flat.routes, &Converters::default())
}

fn build(conf: UrlConf) -> Resolver {
    compile(conf).unwrap_or_else(|e| panic!("{e:?}"))
}

fn winner(r: &Resolver, path: &str) -> Option<(String, Vec<(String, String)>)> {
    r.resolve(path).map(|m| (m.route().name().unwrap_or_default().to_owned(), m.params().to_vec()))
}

#[test]
fn same_shape_patterns_are_tried_in_order_by_converter() {
    let r = build(UrlConf::new().path("items/<int:id>/", v, "by-id").path("items/<slug:s>/", v, "by-slug"));
    assert_eq!(winner(&r, "/items/12/").unwrap(), ("by-id".into(), vec![("id".into(), "12".into())]));
    assert_eq!(winner(&r, "/items/blue-shoe/").unwrap().0, "by-slug");
    assert!(winner(&r, "/items/a b/").is_none());
}

#[test]
fn an_earlier_pattern_of_another_shape_wins_as_in_django() {
    // matchit prefers the static `new` segment; Django takes the first listed pattern.
    let r = build(UrlConf::new().path("posts/<str:slug>/", v, "post").path("posts/new/", v, "new-post"));
    assert_eq!(winner(&r, "/posts/new/").unwrap().0, "post");
    let r = build(UrlConf::new().path("posts/new/", v, "new-post").path("posts/<str:slug>/", v, "post"));
    assert_eq!(winner(&r, "/posts/new/").unwrap().0, "new-post");
    assert_eq!(winner(&r, "/posts/hello/").unwrap().0, "post");
}

#[test]
fn a_refusing_converter_falls_through_to_other_shapes() {
    let r = build(UrlConf::new().path("files/<int:id>/", v, "file").path("files/<path:rest>", v, "any"));
    assert_eq!(winner(&r, "/files/7/").unwrap().0, "file");
    assert_eq!(winner(&r, "/files/docs/a.txt").unwrap(), ("any".into(), vec![("rest".into(), "docs/a.txt".into())]));
}

#[test]
fn includes_nest_prefixes_and_namespaces() {
    let inner = UrlConf::app("notes").path("<int:pk>/", v, "detail");
    let crm = UrlConf::app("crm").path("", v, "home").include("notes/", inner);
    let r = build(UrlConf::new().path("", v, "root").include("crm/", crm));
    assert_eq!(r.reverse("root", &[]).unwrap(), "/");
    assert_eq!(r.reverse("crm:home", &[]).unwrap(), "/crm/");
    assert_eq!(r.reverse("crm:notes:detail", &[&9]).unwrap(), "/crm/notes/9/");
    assert_eq!(winner(&r, "/crm/notes/9/").unwrap().0, "crm:notes:detail");
}

#[test]
fn reverse_checks_names_counts_and_converters() {
    let r = build(UrlConf::new().path("c/<int:pk>/<slug:tab>/", v, "c"));
    assert_eq!(r.reverse("c", &[&3 as &dyn UrlArg, &"notes"]).unwrap(), "/c/3/notes/");
    assert_eq!(r.reverse_kwargs("c", &[("tab", &"notes" as &dyn UrlArg), ("pk", &3)]).unwrap(), "/c/3/notes/");
    assert!(r.reverse("c", &[&3]).is_err(), "too few");
    assert!(r.reverse("c", &[&"x", &"notes"]).is_err(), "int refuses x");
    assert!(r.reverse_kwargs("c", &[("pk", &3)]).unwrap_err().0.contains("missing the argument `tab`"));
    assert!(
        r.reverse_kwargs("c", &[("pk", &3 as &dyn UrlArg), ("tab", &"a"), ("zz", &1)])
            .unwrap_err()
            .0
            .contains("unexpected")
    );
    assert!(r.reverse("d", &[]).unwrap_err().0.contains("no route has that name"));
}

#[test]
fn every_problem_is_reported_together() {
    let conf = UrlConf::new()
        .path("a/", v, "dup")
        .path("b/", v, "dup")
        .path("c/<int:x>/", v, "c1")
        .path("c/<int:y>/", v, "c2")
        .path("d/<nope:x>/", v, "d");
    let errors = compile(conf).err().expect("errors");
    assert_eq!(errors.len(), 3, "{errors:?}");
}
