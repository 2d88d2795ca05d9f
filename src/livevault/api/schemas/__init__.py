"""Request and response models; they feed the OpenAPI document."""
