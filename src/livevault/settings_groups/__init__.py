"""Groups of `livevault.config.Settings` fields, as plain pydantic base classes that `Settings` inherits."""
