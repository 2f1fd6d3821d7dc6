//! The committed SDL (`graphql/schema.graphql`) is the schema the code serves.
//! Regenerate after a deliberate change: `LARAS_REGENERATE_SDL=1 cargo test -p laras-graphql --test sdl`.

#[test]
fn the_committed_sdl_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = laras_graphql::sdl();
    if std::env::var_os("LARAS_REGENERATE_SDL").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).expect("graphql/schema.graphql is committed");
    assert!(committed == sdl, "graphql/schema.graphql is stale: regenerate it with LARAS_REGENERATE_SDL=1");
}
