"""trimtab: declarative PostgreSQL schemas, migrations and editor support."""

__version__ = "0.1.0"
