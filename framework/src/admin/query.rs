//! The SQL of a change list, built from names checked when the site was built and from the
//! request's parameters, whatever they hold: search words, filters, the order and the page
//! never reach the SQL text, only its bound values.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, ColumnType, Condition, Expr, ExprTrait, ForeignKeyAction, Func, LikeExpr, Query, SelectStatement,
    SubQueryStatement,
};
use sea_orm::{DbBackend, Value};

use super::meta::Meta;
use crate::db::FixtureModel;

/// What the admin knows of every table of the site's models: columns and their types, foreign
/// keys, for related fields and for what a delete takes with it.
#[derive(Debug, Default)]
pub(crate) struct Tables(HashMap<String, TableInfo>);

#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub(crate) label: String,
    pub(crate) pk: Option<String>,
    pub(crate) columns: Vec<(String, Option<ColumnType>)>,
    /// (column, referenced table, referenced column, ON DELETE).
    pub(crate) fks: Vec<(String, String, String, Option<ForeignKeyAction>)>,
}

impl Tables {
    pub(crate) fn new(models: &[std::sync::Arc<dyn FixtureModel>]) -> Self {
        let mut map = HashMap::new();
        for model in models {
            let schema = model.schema();
            let info = TableInfo {
                label: model.label().to_owned(),
                pk: schema.columns.iter().find(|c| c.primary_key).map(|c| c.name.clone()),
                columns: schema
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.def.as_ref().and_then(|d| d.get_column_type().cloned())))
                    .collect(),
                fks: schema
                    .foreign_keys
                    .iter()
                    .filter(|f| f.columns.len() == 1 && f.to_columns.len() == 1)
                    .map(|f| (f.columns[0].clone(), f.to_table.clone(), f.to_columns[0].clone(), f.on_delete))
                    .collect(),
            };
            map.insert(schema.name, info);
        }
        Tables(map)
    }

    pub(crate) fn get(&self, table: &str) -> Option<&TableInfo> {
        self.0.get(table)
    }

    /// Every (table, its column) whose foreign key points at `table`.
    pub(crate) fn referencing<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a TableInfo, &'a str, Option<ForeignKeyAction>)> + 'a {
        let mut names: Vec<&String> = self.0.keys().collect();
        // In a fixed order, so a confirmation page lists the same way every time.
        names.sort();
        names.into_iter().flat_map(move |name| {
            let info = &self.0[name];
            info.fks
                .iter()
                .filter(move |(_, to, _, _)| to == table)
                .map(move |(col, _, _, action)| (name.as_str(), info, col.as_str(), *action))
        })
    }
}

impl TableInfo {
    pub(crate) fn column_type(&self, name: &str) -> Option<&ColumnType> {
        self.columns.iter().find(|(n, _)| n == name).and_then(|(_, t)| t.as_ref())
    }

    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|(n, _)| n == name)
    }

    /// The column that names a row of this table, when it has one (`name`, `title`…).
    pub(crate) fn name_column(&self) -> Option<String> {
        NAME_COLUMNS.iter().find(|c| self.has_column(c)).map(|c| (*c).to_owned())
    }
}

/// The first of these columns a model has names its rows by default.
pub(crate) const NAME_COLUMNS: [&str; 6] = ["name", "title", "username", "label", "slug", "email"];

/// A field name of the options, resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// One of the model's columns (its index).
    Column(usize),
    /// A column of the row a foreign key points at: `company__name`.
    Related(Related),
    /// A computed display of the admin's.
    Display(String),
}

/// `company__name`: through the foreign key `company_id` to `company.id`, its column `name`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Related {
    pub(crate) fk: String,
    pub(crate) table: String,
    pub(crate) key: String,
    pub(crate) column: String,
    pub(crate) ty: Option<ColumnType>,
}

/// Resolves a name of the options: a column, `relation__column`, or a display.
pub(crate) fn resolve(meta: &Meta, tables: &Tables, displays: &[String], name: &str) -> Result<Field, String> {
    if let Some(i) = meta.index(name) {
        return Ok(Field::Column(i));
    }
    if displays.iter().any(|d| d == name) {
        return Ok(Field::Display(name.to_owned()));
    }
    if let Some((relation, column)) = name.split_once("__") {
        let Some(fk) = meta.relation(relation) else {
            return Err(format!("`{name}`: {} has no foreign key `{relation}`", meta.label));
        };
        let (table, key) = fk.fk.clone().unwrap_or_default();
        let Some(info) = tables.get(&table) else {
            return Err(format!("`{name}`: the table `{table}` is not a model of any installed app"));
        };
        if column.contains("__") {
            return Err(format!("`{name}`: only one relation deep is supported (`relation__column`)"));
        }
        if !info.has_column(column) {
            return Err(format!("`{name}`: `{table}` has no column `{column}`"));
        }
        return Ok(Field::Related(Related {
            fk: fk.name.clone(),
            table,
            key,
            column: column.to_owned(),
            ty: info.column_type(column).cloned(),
        }));
    }
    Err(format!("`{name}` is not a column of {} nor a display of its admin", meta.label))
}

pub(crate) fn col(table: &str, column: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(column)))
}

pub(crate) fn is_text(ty: Option<&ColumnType>) -> bool {
    matches!(ty, Some(ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text))
}

/// `%word%` with `%`, `_` and the escape character itself escaped.
fn like_pattern(word: &str, start_only: bool) -> LikeExpr {
    let escaped = word.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let pattern = if start_only { format!("{escaped}%") } else { format!("%{escaped}%") };
    LikeExpr::new(pattern).escape('\\')
}

/// How a search field compares: contains (default), starts with (`^`), equals (`=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Contains,
    StartsWith,
    Exact,
}

/// A search field's name without its lookup prefix, and the lookup.
pub(crate) fn search_lookup(name: &str) -> (&str, Lookup) {
    if let Some(rest) = name.strip_prefix('^') {
        (rest, Lookup::StartsWith)
    } else if let Some(rest) = name.strip_prefix('=') {
        (rest, Lookup::Exact)
    } else {
        (name, Lookup::Contains)
    }
}

fn text_match(expr: Expr, word: &str, lookup: Lookup) -> Expr {
    let lowered = Expr::from(Func::lower(expr));
    match lookup {
        Lookup::Contains => lowered.like(like_pattern(word, false)),
        Lookup::StartsWith => lowered.like(like_pattern(word, true)),
        Lookup::Exact => lowered.eq(word.to_lowercase()),
    }
}

/// The rows of `meta` one word matches in one search field.
fn field_match(meta: &Meta, field: &Field, word: &str, lookup: Lookup) -> Option<Expr> {
    match field {
        Field::Column(i) => Some(text_match(col(&meta.table, &meta.columns[*i].name), word, lookup)),
        Field::Related(r) => {
            let inner: SelectStatement = Query::select()
                .column((Alias::new("rel"), Alias::new(&r.key)))
                .from_as(Alias::new(&r.table), Alias::new("rel"))
                .and_where(text_match(col("rel", &r.column), word, lookup))
                .to_owned();
            Some(col(&meta.table, &r.fk).in_subquery(inner))
        }
        Field::Display(_) => None,
    }
}

/// Django's search: the words of `q` (a phrase in quotes is one word), each in one of the
/// fields, case aside. At most 20 words: a longer query is cut, so its SQL stays bounded.
pub(crate) fn search(meta: &Meta, fields: &[(Field, Lookup)], q: &str) -> Option<Condition> {
    let words = split_words(q);
    if words.is_empty() || fields.is_empty() {
        return None;
    }
    let mut all = Condition::all();
    for word in words.iter().take(20) {
        let mut any = Condition::any();
        for (field, lookup) in fields {
            if let Some(expr) = field_match(meta, field, word, *lookup) {
                any = any.add(expr);
            }
        }
        all = all.add(any);
    }
    Some(all)
}

/// The words of a search: split on spaces, except inside double quotes.
pub(crate) fn split_words(q: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars().take(500) {
        match c {
            '"' => {
                quoted = !quoted;
                if !quoted && !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c if c.is_whitespace() && !quoted && !current.is_empty() => words.push(std::mem::take(&mut current)),
            c if c.is_whitespace() && !quoted => {}
            c if !c.is_control() => current.push(c),
            _ => {}
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// What a field sorts by: its column, or for a related field the related row's column (a
/// subquery per row the database runs, not a query per row of ours).
pub(crate) fn sort_expr(meta: &Meta, tables: &Tables, field: &Field) -> Option<Expr> {
    match field {
        Field::Column(i) => {
            let column = &meta.columns[*i];
            // A foreign key sorts by the related row's name, when it has a name-like column.
            if let Some((table, key)) = &column.fk
                && let Some(info) = tables.get(table)
                && let Some(name) = info.name_column()
            {
                return Some(related_value(meta, &column.name, table, key, &name));
            }
            Some(col(&meta.table, &column.name))
        }
        Field::Related(r) => Some(related_value(meta, &r.fk, &r.table, &r.key, &r.column)),
        Field::Display(_) => None,
    }
}

/// `(SELECT rel.column FROM table rel WHERE rel.key = this.fk)`.
fn related_value(meta: &Meta, fk: &str, table: &str, key: &str, column: &str) -> Expr {
    let inner = Query::select()
        .column((Alias::new("rel"), Alias::new(column)))
        .from_as(Alias::new(table), Alias::new("rel"))
        .and_where(col("rel", key).equals((Alias::new(&meta.table), Alias::new(fk))))
        .limit(1)
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(inner)))
}

/// The year, month or day of a date column, as an integer, in the backend's SQL (sea-query
/// fills `?` in order on SQLite and MySQL, `$n` by number on PostgreSQL).
pub(crate) fn date_part(backend: DbBackend, table: &str, column: &str, part: DatePart) -> Expr {
    let qualified = col(table, column);
    match backend {
        DbBackend::Sqlite => {
            let format = match part {
                DatePart::Year => "%Y",
                DatePart::Month => "%m",
                DatePart::Day => "%d",
            };
            Expr::cust_with_exprs("CAST(strftime(?, ?) AS INTEGER)", [Expr::val(format), qualified])
        }
        DbBackend::Postgres => {
            let field = match part {
                DatePart::Year => "CAST(EXTRACT(YEAR FROM $1) AS BIGINT)",
                DatePart::Month => "CAST(EXTRACT(MONTH FROM $1) AS BIGINT)",
                DatePart::Day => "CAST(EXTRACT(DAY FROM $1) AS BIGINT)",
            };
            Expr::cust_with_exprs(field, [qualified])
        }
        _ => {
            let field = match part {
                DatePart::Year => "CAST(YEAR(?) AS SIGNED)",
                DatePart::Month => "CAST(MONTH(?) AS SIGNED)",
                DatePart::Day => "CAST(DAY(?) AS SIGNED)",
            };
            Expr::cust_with_exprs(field, [qualified])
        }
    }
}

/// A part of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatePart {
    Year,
    Month,
    Day,
}

/// A date as a value of a date or timestamp column, at midnight UTC for timestamps.
pub(crate) fn date_value(ty: &ColumnType, date: chrono::NaiveDate) -> Value {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match ty {
        ColumnType::Date => Value::ChronoDate(Some(date)),
        ColumnType::TimestampWithTimeZone => Value::ChronoDateTimeUtc(Some(midnight.and_utc())),
        _ => Value::ChronoDateTime(Some(midnight)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words() {
        assert_eq!(split_words("  ada \"de la Cruz\" x"), ["ada", "de la Cruz", "x"]);
        assert_eq!(split_words("\"unclosed quote"), ["unclosed quote"]);
        assert!(split_words("   ").is_empty());
        assert_eq!(search_lookup("^name"), ("name", Lookup::StartsWith));
        assert_eq!(search_lookup("=email"), ("email", Lookup::Exact));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        let meta = Meta {
            table: "contact".into(),
            columns: vec![super::super::meta::ColumnMeta {
                name: "email".into(),
                ty: ColumnType::Text,
                nullable: false,
                fk: None,
            }],
            ..Meta::default()
        };
        let cond = search(&meta, &[(Field::Column(0), Lookup::Contains)], "100%_off").unwrap();
        let sql = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("contact"))
            .cond_where(cond)
            .to_string(sea_orm::sea_query::SqliteQueryBuilder);
        assert!(sql.contains(r"LIKE '%100\%\_off%' ESCAPE '\'"), "{sql}");
    }
}
