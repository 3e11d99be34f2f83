"""The edges of every service: gRPC and HTTP JSON built from the proto descriptors."""

# The descriptor set (with comments) ``make proto`` writes beside the generated code, for the
# descriptions of the OpenAPI document.
DESCRIPTOR_SET = "scorekeeper.descriptors.pb"
