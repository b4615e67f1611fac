-- Runs once, when the db container initialises an empty data directory, in
-- the database named by POSTGRES_DB. The tables come from `gridtwin db migrate`
-- (the compose service `migrate`); the extensions are created here because
-- that needs a superuser.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Deployments run on closed networks: no telemetry calls home.
ALTER SYSTEM SET timescaledb.telemetry_level = 'off';
