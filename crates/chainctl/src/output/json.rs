//! Any generated message as JSON, through the descriptor set chain-proto embeds: the canonical
//! proto3 JSON mapping (timestamps in RFC 3339, durations as `"3.5s"`, enums by name, 64-bit
//! integers as strings, `Any` payloads decoded with their `@type`), with the proto field names
//! (`ticket_id`) and every field present, defaults included, so scripts find what they look for.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use crate::error::Failure;

static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(chain_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
});

/// `message` as a JSON value.
pub fn to_value<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, Failure> {
    let failed = |why: String| Failure::Output(format!("{} as JSON: {why}", M::full_name()));
    let pool = POOL.as_ref().map_err(|e| failed(e.clone()))?;
    let descriptor = pool
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| failed("not in the descriptor set".to_owned()))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| failed(e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chain_proto::customerchain::v1 as pb;

    #[test]
    fn messages_use_proto_names_and_keep_defaults() {
        let team = pb::Team {
            team_id: "t1".into(),
            name: "Workshop".into(),
            front_line: false,
            created_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            version: 3,
        };
        let value = to_value(&team).expect("json");
        assert_eq!(value["team_id"], "t1");
        assert_eq!(value["front_line"], false);
        assert_eq!(value["created_at"], "2023-11-14T22:13:20Z");
        assert_eq!(value["version"], "3");
    }

    #[test]
    fn enums_are_named() {
        let request = pb::InternalRequest {
            state: pb::RequestState::Revised.into(),
            ..Default::default()
        };
        let value = to_value(&request).expect("json");
        assert_eq!(value["state"], "REQUEST_STATE_REVISED");
    }
}
