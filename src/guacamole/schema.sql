-- Apache Guacamole JDBC authentication: PostgreSQL schema (1.6.x line).
--
-- The operator writes into a database that Guacamole owns. This file lets the
-- project create that database on its own (tests, the sandbox, a fresh install)
-- without the upstream distribution at hand. It must stay identical, object for
-- object in the catalog, to the schema Guacamole itself ships:
-- test/guacamole/schema-identity.test.ts proves that whenever the upstream
-- schema is available beside the repository.
--
-- Not included: Guacamole's default administrator account. The operator never
-- needs it, and a fresh install creates it with Guacamole's own scripts.

-- ---------------------------------------------------------------------------
-- Enumerations
-- ---------------------------------------------------------------------------

CREATE TYPE guacamole_connection_group_type AS ENUM ('ORGANIZATIONAL', 'BALANCING');

CREATE TYPE guacamole_entity_type AS ENUM ('USER', 'USER_GROUP');

CREATE TYPE guacamole_object_permission_type AS ENUM ('READ', 'UPDATE', 'DELETE', 'ADMINISTER');

CREATE TYPE guacamole_system_permission_type AS ENUM (
  'CREATE_CONNECTION', 'CREATE_CONNECTION_GROUP', 'CREATE_SHARING_PROFILE',
  'CREATE_USER', 'CREATE_USER_GROUP', 'AUDIT', 'ADMINISTER'
);

CREATE TYPE guacamole_proxy_encryption_method AS ENUM ('NONE', 'SSL');

-- ---------------------------------------------------------------------------
-- Entities: every user and user group has one row here; permissions point at it
-- ---------------------------------------------------------------------------

CREATE TABLE guacamole_entity (
  entity_id serial                NOT NULL PRIMARY KEY,
  name      varchar(128)          NOT NULL,
  type      guacamole_entity_type NOT NULL,
  CONSTRAINT guacamole_entity_name_scope UNIQUE (type, name)
);

CREATE TABLE guacamole_user (
  user_id             serial       NOT NULL PRIMARY KEY,
  entity_id           integer      NOT NULL
    CONSTRAINT guacamole_user_single_entity UNIQUE
    CONSTRAINT guacamole_user_entity REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  password_hash       bytea        NOT NULL,
  password_salt       bytea,
  password_date       timestamptz  NOT NULL,
  disabled            boolean      NOT NULL DEFAULT false,
  expired             boolean      NOT NULL DEFAULT false,
  access_window_start time,
  access_window_end   time,
  valid_from          date,
  valid_until         date,
  timezone            varchar(64),
  full_name           varchar(256),
  email_address       varchar(256),
  organization        varchar(256),
  organizational_role varchar(256)
);

CREATE TABLE guacamole_user_group (
  user_group_id serial  NOT NULL PRIMARY KEY,
  entity_id     integer NOT NULL
    CONSTRAINT guacamole_user_group_single_entity UNIQUE
    CONSTRAINT guacamole_user_group_entity REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  disabled      boolean NOT NULL DEFAULT false
);

CREATE TABLE guacamole_user_group_member (
  user_group_id    integer NOT NULL
    CONSTRAINT guacamole_user_group_member_parent
    REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE,
  member_entity_id integer NOT NULL
    CONSTRAINT guacamole_user_group_member_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  PRIMARY KEY (user_group_id, member_entity_id)
);

-- ---------------------------------------------------------------------------
-- Connection groups, connections, sharing profiles
-- ---------------------------------------------------------------------------

-- NB: (connection_group_name, parent_id) does not stop duplicates at the root,
-- where parent_id is NULL; writers of root-level groups serialise themselves.
CREATE TABLE guacamole_connection_group (
  connection_group_id      serial                          NOT NULL PRIMARY KEY,
  parent_id                integer
    CONSTRAINT guacamole_connection_group_ibfk_1
    REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE,
  connection_group_name    varchar(128)                    NOT NULL,
  type                     guacamole_connection_group_type NOT NULL DEFAULT 'ORGANIZATIONAL',
  max_connections          integer,
  max_connections_per_user integer,
  enable_session_affinity  boolean                         NOT NULL DEFAULT false,
  CONSTRAINT connection_group_name_parent UNIQUE (connection_group_name, parent_id)
);
CREATE INDEX guacamole_connection_group_parent_id ON guacamole_connection_group (parent_id);

CREATE TABLE guacamole_connection (
  connection_id            serial       NOT NULL PRIMARY KEY,
  connection_name          varchar(128) NOT NULL,
  parent_id                integer
    CONSTRAINT guacamole_connection_ibfk_1
    REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE,
  protocol                 varchar(32)  NOT NULL,
  max_connections          integer,
  max_connections_per_user integer,
  connection_weight        integer,
  failover_only            boolean      NOT NULL DEFAULT false,
  proxy_port               integer,
  proxy_hostname           varchar(512),
  proxy_encryption_method  guacamole_proxy_encryption_method,
  CONSTRAINT connection_name_parent UNIQUE (connection_name, parent_id)
);
CREATE INDEX guacamole_connection_parent_id ON guacamole_connection (parent_id);

CREATE TABLE guacamole_sharing_profile (
  sharing_profile_id    serial       NOT NULL PRIMARY KEY,
  sharing_profile_name  varchar(128) NOT NULL,
  primary_connection_id integer      NOT NULL
    CONSTRAINT guacamole_sharing_profile_ibfk_1
    REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE,
  CONSTRAINT sharing_profile_name_primary UNIQUE (sharing_profile_name, primary_connection_id)
);
CREATE INDEX guacamole_sharing_profile_primary_connection_id
  ON guacamole_sharing_profile (primary_connection_id);

-- ---------------------------------------------------------------------------
-- Name/value pairs: connection and sharing-profile parameters, and the
-- free-form attributes of users, user groups, connections, groups and profiles
-- ---------------------------------------------------------------------------

CREATE TABLE guacamole_connection_parameter (
  connection_id   integer       NOT NULL
    CONSTRAINT guacamole_connection_parameter_ibfk_1
    REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE,
  parameter_name  varchar(128)  NOT NULL,
  parameter_value varchar(4096) NOT NULL,
  PRIMARY KEY (connection_id, parameter_name)
);
CREATE INDEX guacamole_connection_parameter_connection_id
  ON guacamole_connection_parameter (connection_id);

CREATE TABLE guacamole_sharing_profile_parameter (
  sharing_profile_id integer       NOT NULL
    CONSTRAINT guacamole_sharing_profile_parameter_ibfk_1
    REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE,
  parameter_name     varchar(128)  NOT NULL,
  parameter_value    varchar(4096) NOT NULL,
  PRIMARY KEY (sharing_profile_id, parameter_name)
);
CREATE INDEX guacamole_sharing_profile_parameter_sharing_profile_id
  ON guacamole_sharing_profile_parameter (sharing_profile_id);

CREATE TABLE guacamole_user_attribute (
  user_id         integer       NOT NULL
    CONSTRAINT guacamole_user_attribute_ibfk_1
    REFERENCES guacamole_user (user_id) ON DELETE CASCADE,
  attribute_name  varchar(128)  NOT NULL,
  attribute_value varchar(4096) NOT NULL,
  PRIMARY KEY (user_id, attribute_name)
);
CREATE INDEX guacamole_user_attribute_user_id ON guacamole_user_attribute (user_id);

CREATE TABLE guacamole_user_group_attribute (
  user_group_id   integer       NOT NULL
    CONSTRAINT guacamole_user_group_attribute_ibfk_1
    REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE,
  attribute_name  varchar(128)  NOT NULL,
  attribute_value varchar(4096) NOT NULL,
  PRIMARY KEY (user_group_id, attribute_name)
);
CREATE INDEX guacamole_user_group_attribute_user_group_id
  ON guacamole_user_group_attribute (user_group_id);

CREATE TABLE guacamole_connection_attribute (
  connection_id   integer       NOT NULL
    CONSTRAINT guacamole_connection_attribute_ibfk_1
    REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE,
  attribute_name  varchar(128)  NOT NULL,
  attribute_value varchar(4096) NOT NULL,
  PRIMARY KEY (connection_id, attribute_name)
);
CREATE INDEX guacamole_connection_attribute_connection_id
  ON guacamole_connection_attribute (connection_id);

CREATE TABLE guacamole_connection_group_attribute (
  connection_group_id integer       NOT NULL
    CONSTRAINT guacamole_connection_group_attribute_ibfk_1
    REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE,
  attribute_name      varchar(128)  NOT NULL,
  attribute_value     varchar(4096) NOT NULL,
  PRIMARY KEY (connection_group_id, attribute_name)
);
CREATE INDEX guacamole_connection_group_attribute_connection_group_id
  ON guacamole_connection_group_attribute (connection_group_id);

CREATE TABLE guacamole_sharing_profile_attribute (
  sharing_profile_id integer       NOT NULL
    CONSTRAINT guacamole_sharing_profile_attribute_ibfk_1
    REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE,
  attribute_name     varchar(128)  NOT NULL,
  attribute_value    varchar(4096) NOT NULL,
  PRIMARY KEY (sharing_profile_id, attribute_name)
);
CREATE INDEX guacamole_sharing_profile_attribute_sharing_profile_id
  ON guacamole_sharing_profile_attribute (sharing_profile_id);

-- ---------------------------------------------------------------------------
-- Permissions. The permission is part of each primary key: one entity may
-- hold READ and UPDATE on the same object as two rows.
-- ---------------------------------------------------------------------------

CREATE TABLE guacamole_connection_permission (
  entity_id     integer                          NOT NULL
    CONSTRAINT guacamole_connection_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  connection_id integer                          NOT NULL
    CONSTRAINT guacamole_connection_permission_ibfk_1
    REFERENCES guacamole_connection (connection_id) ON DELETE CASCADE,
  permission    guacamole_object_permission_type NOT NULL,
  PRIMARY KEY (entity_id, connection_id, permission)
);
CREATE INDEX guacamole_connection_permission_connection_id
  ON guacamole_connection_permission (connection_id);
CREATE INDEX guacamole_connection_permission_entity_id
  ON guacamole_connection_permission (entity_id);

CREATE TABLE guacamole_connection_group_permission (
  entity_id           integer                          NOT NULL
    CONSTRAINT guacamole_connection_group_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  connection_group_id integer                          NOT NULL
    CONSTRAINT guacamole_connection_group_permission_ibfk_1
    REFERENCES guacamole_connection_group (connection_group_id) ON DELETE CASCADE,
  permission          guacamole_object_permission_type NOT NULL,
  PRIMARY KEY (entity_id, connection_group_id, permission)
);
CREATE INDEX guacamole_connection_group_permission_connection_group_id
  ON guacamole_connection_group_permission (connection_group_id);
CREATE INDEX guacamole_connection_group_permission_entity_id
  ON guacamole_connection_group_permission (entity_id);

CREATE TABLE guacamole_sharing_profile_permission (
  entity_id          integer                          NOT NULL
    CONSTRAINT guacamole_sharing_profile_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  sharing_profile_id integer                          NOT NULL
    CONSTRAINT guacamole_sharing_profile_permission_ibfk_1
    REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE CASCADE,
  permission         guacamole_object_permission_type NOT NULL,
  PRIMARY KEY (entity_id, sharing_profile_id, permission)
);
CREATE INDEX guacamole_sharing_profile_permission_sharing_profile_id
  ON guacamole_sharing_profile_permission (sharing_profile_id);
CREATE INDEX guacamole_sharing_profile_permission_entity_id
  ON guacamole_sharing_profile_permission (entity_id);

CREATE TABLE guacamole_system_permission (
  entity_id  integer                          NOT NULL
    CONSTRAINT guacamole_system_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  permission guacamole_system_permission_type NOT NULL,
  PRIMARY KEY (entity_id, permission)
);
CREATE INDEX guacamole_system_permission_entity_id ON guacamole_system_permission (entity_id);

-- affected_user_id is a guacamole_user.user_id, not an entity id.
CREATE TABLE guacamole_user_permission (
  entity_id        integer                          NOT NULL
    CONSTRAINT guacamole_user_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  affected_user_id integer                          NOT NULL
    CONSTRAINT guacamole_user_permission_ibfk_1
    REFERENCES guacamole_user (user_id) ON DELETE CASCADE,
  permission       guacamole_object_permission_type NOT NULL,
  PRIMARY KEY (entity_id, affected_user_id, permission)
);
CREATE INDEX guacamole_user_permission_affected_user_id
  ON guacamole_user_permission (affected_user_id);
CREATE INDEX guacamole_user_permission_entity_id ON guacamole_user_permission (entity_id);

CREATE TABLE guacamole_user_group_permission (
  entity_id              integer                          NOT NULL
    CONSTRAINT guacamole_user_group_permission_entity
    REFERENCES guacamole_entity (entity_id) ON DELETE CASCADE,
  affected_user_group_id integer                          NOT NULL
    CONSTRAINT guacamole_user_group_permission_affected_user_group
    REFERENCES guacamole_user_group (user_group_id) ON DELETE CASCADE,
  permission             guacamole_object_permission_type NOT NULL,
  PRIMARY KEY (entity_id, affected_user_group_id, permission)
);
CREATE INDEX guacamole_user_group_permission_affected_user_group_id
  ON guacamole_user_group_permission (affected_user_group_id);
CREATE INDEX guacamole_user_group_permission_entity_id
  ON guacamole_user_group_permission (entity_id);

-- ---------------------------------------------------------------------------
-- History. Rows outlive the users, connections and profiles they mention.
-- ---------------------------------------------------------------------------

CREATE TABLE guacamole_connection_history (
  history_id           serial       NOT NULL PRIMARY KEY,
  user_id              integer      DEFAULT NULL
    CONSTRAINT guacamole_connection_history_ibfk_1
    REFERENCES guacamole_user (user_id) ON DELETE SET NULL,
  username             varchar(128) NOT NULL,
  remote_host          varchar(256) DEFAULT NULL,
  connection_id        integer      DEFAULT NULL
    CONSTRAINT guacamole_connection_history_ibfk_2
    REFERENCES guacamole_connection (connection_id) ON DELETE SET NULL,
  connection_name      varchar(128) NOT NULL,
  sharing_profile_id   integer      DEFAULT NULL
    CONSTRAINT guacamole_connection_history_ibfk_3
    REFERENCES guacamole_sharing_profile (sharing_profile_id) ON DELETE SET NULL,
  sharing_profile_name varchar(128) DEFAULT NULL,
  start_date           timestamptz  NOT NULL,
  end_date             timestamptz  DEFAULT NULL
);
CREATE INDEX guacamole_connection_history_user_id ON guacamole_connection_history (user_id);
CREATE INDEX guacamole_connection_history_connection_id
  ON guacamole_connection_history (connection_id);
CREATE INDEX guacamole_connection_history_sharing_profile_id
  ON guacamole_connection_history (sharing_profile_id);
CREATE INDEX guacamole_connection_history_start_date ON guacamole_connection_history (start_date);
CREATE INDEX guacamole_connection_history_end_date ON guacamole_connection_history (end_date);
CREATE INDEX guacamole_connection_history_connection_id_start_date
  ON guacamole_connection_history (connection_id, start_date);

CREATE TABLE guacamole_user_history (
  history_id  serial       NOT NULL PRIMARY KEY,
  user_id     integer      DEFAULT NULL
    CONSTRAINT guacamole_user_history_ibfk_1
    REFERENCES guacamole_user (user_id) ON DELETE SET NULL,
  username    varchar(128) NOT NULL,
  remote_host varchar(256) DEFAULT NULL,
  start_date  timestamptz  NOT NULL,
  end_date    timestamptz  DEFAULT NULL
);
CREATE INDEX guacamole_user_history_user_id ON guacamole_user_history (user_id);
CREATE INDEX guacamole_user_history_start_date ON guacamole_user_history (start_date);
CREATE INDEX guacamole_user_history_end_date ON guacamole_user_history (end_date);
CREATE INDEX guacamole_user_history_user_id_start_date
  ON guacamole_user_history (user_id, start_date);

CREATE TABLE guacamole_user_password_history (
  password_history_id serial      NOT NULL PRIMARY KEY,
  user_id             integer     NOT NULL
    CONSTRAINT guacamole_user_password_history_ibfk_1
    REFERENCES guacamole_user (user_id) ON DELETE CASCADE,
  password_hash       bytea       NOT NULL,
  password_salt       bytea,
  password_date       timestamptz NOT NULL
);
CREATE INDEX guacamole_user_password_history_user_id
  ON guacamole_user_password_history (user_id);
