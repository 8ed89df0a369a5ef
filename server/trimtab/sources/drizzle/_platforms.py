"""What ``drizzle-orm/supabase`` and ``drizzle-orm/neon`` export, written in the TypeScript
the reader evaluates: the same roles, tables and ``sql`` fragments as drizzle-orm 0.45
declares there, so that a schema using them lowers exactly as drizzle-kit sees it.
``crudPolicy`` builds its policies in code, so it is a builtin of the evaluator."""

from __future__ import annotations

INTERNAL = "trimtab:internal"  # the builtins these modules import

_SUPABASE = """
import { sql } from "drizzle-orm";
import { bigserial, pgRole, pgSchema, text, timestamp, uuid, varchar } from "drizzle-orm/pg-core";

export const anonRole = pgRole("anon").existing();
export const authenticatedRole = pgRole("authenticated").existing();
export const serviceRole = pgRole("service_role").existing();
export const postgresRole = pgRole("postgres_role").existing();
export const supabaseAuthAdminRole = pgRole("supabase_auth_admin").existing();

export const authUsers = pgSchema("auth").table("users", {
  id: uuid().primaryKey().notNull(),
  email: varchar({ length: 255 }),
  phone: text().unique(),
  emailConfirmedAt: timestamp("email_confirmed_at", { withTimezone: true }),
  phoneConfirmedAt: timestamp("phone_confirmed_at", { withTimezone: true }),
  lastSignInAt: timestamp("last_sign_in_at", { withTimezone: true }),
  createdAt: timestamp("created_at", { withTimezone: true }),
  updatedAt: timestamp("updated_at", { withTimezone: true }),
});

export const realtimeMessages = pgSchema("realtime").table("messages", {
  id: bigserial({ mode: "bigint" }).primaryKey(),
  topic: text().notNull(),
  extension: text({ enum: ["presence", "broadcast", "postgres_changes"] }).notNull(),
});

export const authUid = sql`(select auth.uid())`;
export const realtimeTopic = sql`realtime.topic()`;
"""

_NEON = """
import { sql } from "drizzle-orm";
import { jsonb, pgRole, pgSchema, text, timestamp } from "drizzle-orm/pg-core";
import { crudPolicy } from "trimtab:internal";

export { crudPolicy };
export const authenticatedRole = pgRole("authenticated").existing();
export const anonymousRole = pgRole("anonymous").existing();
export const authUid = (userIdColumn) => sql`(select auth.user_id() = ${userIdColumn})`;

export const usersSync = pgSchema("neon_auth").table("users_sync", {
  rawJson: jsonb("raw_json").notNull(),
  id: text().primaryKey().notNull(),
  name: text(),
  email: text(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }),
  deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "string" }),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }),
});
"""

PLATFORM_MODULES = {"drizzle-orm/supabase": _SUPABASE, "drizzle-orm/neon": _NEON}
