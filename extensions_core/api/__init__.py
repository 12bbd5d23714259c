"""The REST API: management endpoints, mounted extension endpoints, auth and the OpenAPI schema."""
