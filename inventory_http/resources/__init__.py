"""The API's resources, one module per area of DESIGN §3."""
