//! Folders of files shipped with a site (templates, static files): read from disk in debug
//! builds, so an edit shows on refresh, and embedded in the binary in release builds, so a Lambda
//! cold start touches no filesystem.

use std::borrow::Cow;

/// A folder of files, embedded in release builds and read from disk in debug builds. Make one
/// with [`assets!`](crate::assets), which embeds a folder of your crate.
#[derive(Clone, Copy)]
pub struct AssetDir {
    get: fn(&str) -> Option<rust_embed::EmbeddedFile>,
    names: fn() -> Vec<Cow<'static, str>>,
}

/// One file of an [`AssetDir`].
pub struct Asset {
    /// The file's bytes (borrowed from the binary in release builds).
    pub data: Cow<'static, [u8]>,
    /// SHA-256 of the content, computed at compile time for embedded files.
    pub sha256: [u8; 32],
}

impl Asset {
    /// The first 12 hex digits of the content hash: what hashed static names and ETags use.
    pub fn short_hash(&self) -> String {
        self.sha256[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl AssetDir {
    /// The folder embedded by a `rust_embed::RustEmbed` type.
    pub fn of<E: rust_embed::RustEmbed>() -> Self {
        AssetDir { get: E::get, names: names_of::<E> }
    }

    /// The file at `path` (relative, `/`-separated), if present.
    pub fn get(&self, path: &str) -> Option<Asset> {
        if path.split('/').any(|seg| seg == ".." || seg == ".") || path.starts_with('/') {
            return None;
        }
        (self.get)(path).map(|f| Asset { sha256: f.metadata.sha256_hash(), data: f.data })
    }

    /// Every file's relative path (a directory walk in debug builds, a constant list in release).
    pub fn names(&self) -> Vec<Cow<'static, str>> {
        (self.names)()
    }
}

fn names_of<E: rust_embed::RustEmbed>() -> Vec<Cow<'static, str>> {
    E::iter().collect()
}

impl std::fmt::Debug for AssetDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetDir").finish_non_exhaustive()
    }
}

/// Embeds a folder of the calling crate (path relative to its `Cargo.toml`) as an
/// [`AssetDir`](crate::assets::AssetDir): the site's `templates/`, an app's `static/`, …
///
/// ```ignore
/// let templates = djambda::assets!("../templates");
/// ```
#[macro_export]
macro_rules! assets {
    ($folder:literal) => {{
        #[derive($crate::__private::RustEmbed)]
        #[folder = $folder]
        #[crate_path = "::djambda::__private::rust_embed"]
        struct DjambdaAssets;
        $crate::assets::AssetDir::of::<DjambdaAssets>()
    }};
}
