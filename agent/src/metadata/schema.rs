//! Schema migrations, applied in order inside one transaction each. Never edit a released
//! migration: append a new one.

use rusqlite::Connection;

use crate::error::{EngineError, Result};

const MIGRATIONS: &[&str] = &[
    // 1: layers, images, references, containers.
    r#"
    CREATE TABLE layers (
        chain_id     TEXT PRIMARY KEY,              -- sha256:... (OCI ChainID)
        diff_id      TEXT NOT NULL,                 -- sha256 of the uncompressed layer tar
        parent       TEXT REFERENCES layers(chain_id),
        cache_id     TEXT NOT NULL UNIQUE,          -- the graph driver's id for this layer
        size         INTEGER NOT NULL,              -- unpacked bytes
        created_at   TEXT NOT NULL
    );
    CREATE INDEX layers_parent ON layers(parent);

    CREATE TABLE images (
        id           TEXT PRIMARY KEY,              -- sha256 of the config JSON
        config       BLOB NOT NULL,                 -- the config JSON exactly as received
        top_layer    TEXT REFERENCES layers(chain_id),
        size         INTEGER NOT NULL,
        parent_id    TEXT,                          -- local parent image (docker commit)
        loaded_at    TEXT NOT NULL
    );
    CREATE INDEX images_top_layer ON images(top_layer);

    CREATE TABLE refs (
        name         TEXT PRIMARY KEY,              -- normalized: docker.io/library/busybox:latest
        image_id     TEXT NOT NULL REFERENCES images(id)
    );
    CREATE INDEX refs_image ON refs(image_id);

    CREATE TABLE containers (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        image_id     TEXT NOT NULL REFERENCES images(id),
        spec         TEXT NOT NULL,                 -- JSON: model::ContainerSpec as asked
        config       TEXT NOT NULL,                 -- JSON: model::ResolvedConfig
        state        TEXT NOT NULL,                 -- JSON: model::ContainerState
        rw_layer     TEXT NOT NULL,                 -- driver id of the read-write layer
        init_layer   TEXT NOT NULL,                 -- driver id of the -init layer
        created_at   TEXT NOT NULL,
        restart_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX containers_image ON containers(image_id);
    "#,
    // 2: volumes and which container mounts which volume where.
    r#"
    CREATE TABLE volumes (
        name         TEXT PRIMARY KEY,
        driver       TEXT NOT NULL,                 -- always 'local'
        labels       TEXT NOT NULL,                 -- JSON object
        options      TEXT NOT NULL,                 -- JSON object
        anonymous    INTEGER NOT NULL,              -- 1: made for a container, not named by a user
        created_at   TEXT NOT NULL
    );

    CREATE TABLE container_volumes (
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        destination  TEXT NOT NULL,                 -- absolute path in the container
        volume       TEXT NOT NULL REFERENCES volumes(name),
        read_only    INTEGER NOT NULL,
        mode         TEXT NOT NULL,                 -- as docker inspect Mounts shows it
        copy_data    INTEGER NOT NULL,              -- populate from the image when empty
        PRIMARY KEY (container_id, destination)
    );
    CREATE INDEX container_volumes_volume ON container_volumes(volume);
    "#,
    // 3: compressed forms of layers seen on registries (pulled or pushed), so a push offers
    // a registry the blob digests it already has and a pushed manifest stays the same.
    r#"
    CREATE TABLE layer_blobs (
        diff_id      TEXT NOT NULL,                 -- sha256 of the uncompressed layer tar
        blob_digest  TEXT NOT NULL,                 -- sha256 of the blob as stored on the registry
        size         INTEGER NOT NULL,
        media_type   TEXT NOT NULL,
        registry     TEXT NOT NULL,                 -- host[:port], docker.io
        repository   TEXT NOT NULL,                 -- library/busybox
        PRIMARY KEY (diff_id, blob_digest, registry, repository)
    );
    "#,
    // 4: container network endpoints on the agent's bridge: each row is the container's IPAM
    // lease (an address is never leased twice) and the record of its namespace file, host veth
    // and published ports, so a restart can repair or restore them.
    r#"
    CREATE TABLE network_endpoints (
        container_id TEXT PRIMARY KEY,              -- no foreign key: repair removes orphans
        network      TEXT NOT NULL,                 -- 'bridge'
        address      TEXT NOT NULL,                 -- IPv4 leased to the container
        prefix_len   INTEGER NOT NULL,
        gateway      TEXT NOT NULL,                 -- the bridge's address
        mac          TEXT NOT NULL,
        host_veth    TEXT NOT NULL,                 -- host end of the veth pair
        netns_path   TEXT NOT NULL,                 -- <exec-root>/netns/<id>
        ports        TEXT NOT NULL,                 -- JSON: published ports as bound
        created_at   TEXT NOT NULL,
        UNIQUE (network, address)
    );
    "#,
    // 5: user-defined bridge networks; a container may have one endpoint per network (its
    // interface eth0, eth1... in its namespace, the names the embedded DNS answers for it);
    // networks a container was connected to (`docker network connect`) beyond its
    // NetworkMode, kept across stop/start.
    r#"
    CREATE TABLE networks (
        id           TEXT PRIMARY KEY,              -- 64 hex
        name         TEXT NOT NULL UNIQUE,
        driver       TEXT NOT NULL,                 -- 'bridge'
        subnet       TEXT NOT NULL,                 -- 10.1.0.0/16
        gateway      TEXT NOT NULL,                 -- the bridge's address
        bridge       TEXT NOT NULL UNIQUE,          -- br-<12 hex of id>
        options      TEXT NOT NULL,                 -- JSON object
        labels       TEXT NOT NULL,                 -- JSON object
        created_at   TEXT NOT NULL
    );
    CREATE TABLE network_endpoints_v5 (
        container_id TEXT NOT NULL,                 -- no foreign key: repair removes orphans
        network      TEXT NOT NULL,                 -- 'bridge' or a networks.id
        address      TEXT NOT NULL,
        prefix_len   INTEGER NOT NULL,
        gateway      TEXT NOT NULL,
        mac          TEXT NOT NULL,
        host_veth    TEXT NOT NULL,
        netns_path   TEXT NOT NULL,
        ports        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        interface    TEXT NOT NULL DEFAULT 'eth0',  -- the name inside the namespace
        dns_names    TEXT NOT NULL DEFAULT '[]',    -- JSON: name, aliases, short id
        aliases      TEXT NOT NULL DEFAULT '[]',    -- JSON: --network-alias
        PRIMARY KEY (container_id, network),
        UNIQUE (network, address)
    );
    INSERT INTO network_endpoints_v5 (container_id, network, address, prefix_len, gateway, mac,
        host_veth, netns_path, ports, created_at)
      SELECT container_id, network, address, prefix_len, gateway, mac, host_veth, netns_path,
        ports, created_at FROM network_endpoints;
    DROP TABLE network_endpoints;
    ALTER TABLE network_endpoints_v5 RENAME TO network_endpoints;
    CREATE TABLE container_networks (
        container_id TEXT NOT NULL,
        network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        aliases      TEXT NOT NULL,                 -- JSON array
        ipv4_address TEXT NOT NULL,                 -- '' or the --ip asked for
        PRIMARY KEY (container_id, network_id)
    );
    "#,
    // 6: containers stopped by hand (`docker stop`/`kill`), which restart policies leave alone
    // (also at agent start) until the next `docker start`.
    r#"
    ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
    "#,
    // 7: the tombstone of a removal under way (`docker rm`): set before anything is torn down,
    // so a removal cut short by a crash is finished at the next start.
    r#"
    ALTER TABLE containers ADD COLUMN removing INTEGER NOT NULL DEFAULT 0;
    "#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| EngineError::metadata("reading schema version", e))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn
            .transaction()
            .map_err(|e| EngineError::metadata(format!("migration {version}: begin"), e))?;
        tx.execute_batch(sql)
            .map_err(|e| EngineError::metadata(format!("migration {version}"), e))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| EngineError::metadata(format!("migration {version}: version"), e))?;
        tx.commit()
            .map_err(|e| EngineError::metadata(format!("migration {version}: commit"), e))?;
    }
    Ok(())
}
