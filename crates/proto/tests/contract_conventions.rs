//! Checks the compiled `customerchain.v1` contracts against the conventions
//! the API promises (documentation on every element, `_UNSPECIFIED` enum
//! zeros, idempotency keys, pagination, optimistic concurrency), by decoding
//! the descriptor set the crate embeds for server reflection.

use std::collections::HashMap;

use chain_proto::FILE_DESCRIPTOR_SET;
use prost::Message;
use prost_types::{
    DescriptorProto, FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto,
    field_descriptor_proto::{Label, Type},
};

const PACKAGE: &str = "customerchain.v1";

// Field numbers inside descriptor.proto, used to build source-info paths.
const FILE_MESSAGE_TYPE: i32 = 4;
const FILE_ENUM_TYPE: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED_TYPE: i32 = 3;
const MESSAGE_ENUM_TYPE: i32 = 4;
const MESSAGE_ONEOF: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

/// RPCs that create a resource, so they have no version to expect.
const CREATING_RPCS: &[&str] = &[
    "CreateTeam",
    "OpenRequest",
    "RegisterCustomer",
    "OpenTicket",
    "RecordFeedback",
];

fn package_files() -> Vec<FileDescriptorProto> {
    let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set decodes");
    set.file
        .into_iter()
        .filter(|file| file.package() == PACKAGE)
        .collect()
}

/// Every message of the package by full name (".customerchain.v1.X").
fn messages(files: &[FileDescriptorProto]) -> HashMap<String, DescriptorProto> {
    files
        .iter()
        .flat_map(|file| file.message_type.iter())
        .map(|message| (format!(".{PACKAGE}.{}", message.name()), message.clone()))
        .collect()
}

fn methods(files: &[FileDescriptorProto]) -> Vec<(String, MethodDescriptorProto)> {
    files
        .iter()
        .flat_map(|file| file.service.iter())
        .flat_map(|service| {
            service
                .method
                .iter()
                .map(|method| (service.name().to_owned(), method.clone()))
        })
        .collect()
}

fn is_mutating(method: &str) -> bool {
    !["Get", "List", "Watch", "Read"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

fn field<'m>(
    message: &'m DescriptorProto,
    name: &str,
) -> Option<&'m prost_types::FieldDescriptorProto> {
    message.field.iter().find(|field| field.name() == name)
}

#[test]
fn the_three_services_are_described_with_read_events() {
    let files = package_files();
    let methods = methods(&files);
    for service in [
        "InternalRequestService",
        "TicketService",
        "SatisfactionService",
    ] {
        let read_events = methods
            .iter()
            .find(|(owner, method)| owner == service && method.name() == "ReadEvents")
            .unwrap_or_else(|| panic!("{service} has no ReadEvents"));
        assert_eq!(
            read_events.1.input_type(),
            ".customerchain.v1.ReadEventsRequest"
        );
        assert_eq!(
            read_events.1.output_type(),
            ".customerchain.v1.EventEnvelope"
        );
        assert!(
            read_events.1.server_streaming(),
            "{service}.ReadEvents streams"
        );
    }
    let watches: Vec<_> = methods
        .iter()
        .filter(|(_, method)| method.name().starts_with("Watch"))
        .map(|(_, method)| (method.name().to_owned(), method.server_streaming()))
        .collect();
    assert_eq!(watches.len(), 3, "one Watch RPC per service: {watches:?}");
    assert!(watches.iter().all(|(_, streaming)| *streaming));
}

#[test]
fn every_element_is_documented() {
    let mut undocumented = Vec::new();
    for file in package_files() {
        let info = file
            .source_code_info
            .as_ref()
            .expect("protox keeps source info for reflection");
        let documented: HashMap<&[i32], bool> = info
            .location
            .iter()
            .map(|location| {
                let has_comment = location
                    .leading_comments
                    .as_deref()
                    .is_some_and(|text| !text.trim().is_empty());
                (location.path.as_slice(), has_comment)
            })
            .collect();
        let mut check = |path: Vec<i32>, what: String| {
            if !documented.get(path.as_slice()).copied().unwrap_or(false) {
                undocumented.push(format!("{}: {what}", file.name()));
            }
        };
        for (m, message) in file.message_type.iter().enumerate() {
            let path = vec![FILE_MESSAGE_TYPE, index(m)];
            check_message(message, path, message.name().to_owned(), &mut check);
        }
        for (e, en) in file.enum_type.iter().enumerate() {
            let path = vec![FILE_ENUM_TYPE, index(e)];
            check(path.clone(), en.name().to_owned());
            for (v, value) in en.value.iter().enumerate() {
                check(
                    [path.as_slice(), &[ENUM_VALUE, index(v)]].concat(),
                    format!("{}.{}", en.name(), value.name()),
                );
            }
        }
        for (s, service) in file.service.iter().enumerate() {
            let path = vec![FILE_SERVICE, index(s)];
            check(path.clone(), service.name().to_owned());
            for (r, method) in service.method.iter().enumerate() {
                check(
                    [path.as_slice(), &[SERVICE_METHOD, index(r)]].concat(),
                    format!("{}.{}", service.name(), method.name()),
                );
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}

fn check_message(
    message: &DescriptorProto,
    path: Vec<i32>,
    name: String,
    check: &mut impl FnMut(Vec<i32>, String),
) {
    if message
        .options
        .as_ref()
        .is_some_and(|options| options.map_entry())
    {
        return; // synthesised by protoc for map fields, never in the source
    }
    check(path.clone(), name.clone());
    for (f, field) in message.field.iter().enumerate() {
        check(
            [path.as_slice(), &[MESSAGE_FIELD, index(f)]].concat(),
            format!("{name}.{}", field.name()),
        );
    }
    for (o, oneof) in message.oneof_decl.iter().enumerate() {
        // proto3 `optional` fields get a synthetic oneof named "_<field>".
        if oneof.name().starts_with('_') {
            continue;
        }
        check(
            [path.as_slice(), &[MESSAGE_ONEOF, index(o)]].concat(),
            format!("{name}.{}", oneof.name()),
        );
    }
    for (n, nested) in message.nested_type.iter().enumerate() {
        check_message(
            nested,
            [path.as_slice(), &[MESSAGE_NESTED_TYPE, index(n)]].concat(),
            format!("{name}.{}", nested.name()),
            check,
        );
    }
    for (e, en) in message.enum_type.iter().enumerate() {
        check(
            [path.as_slice(), &[MESSAGE_ENUM_TYPE, index(e)]].concat(),
            format!("{name}.{}", en.name()),
        );
    }
}

fn index(i: usize) -> i32 {
    i32::try_from(i).expect("fewer than 2^31 elements")
}

fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn every_enum_starts_with_unspecified_and_prefixes_its_values() {
    let mut enums = 0;
    for file in package_files() {
        for en in &file.enum_type {
            enums += 1;
            let prefix = screaming_snake(en.name());
            let zero = en
                .value
                .iter()
                .find(|value| value.number() == 0)
                .unwrap_or_else(|| panic!("{} has no zero value", en.name()));
            assert_eq!(zero.name(), format!("{prefix}_UNSPECIFIED"));
            for value in &en.value {
                assert!(
                    value.name().starts_with(&format!("{prefix}_")),
                    "{} lacks the prefix {prefix}_",
                    value.name()
                );
            }
        }
    }
    assert!(enums >= 10, "only {enums} enums found");
}

#[test]
fn mutating_rpcs_take_an_idempotency_key_and_expected_version() {
    let files = package_files();
    let messages = messages(&files);
    let mut mutating = 0;
    for (service, method) in methods(&files) {
        if !is_mutating(method.name()) {
            continue;
        }
        mutating += 1;
        let input = &messages[method.input_type()];
        let key = field(input, "idempotency_key")
            .unwrap_or_else(|| panic!("{service}.{} has no idempotency_key", method.name()));
        assert_eq!(key.r#type(), Type::String);
        assert_eq!(key.number(), 1, "idempotency_key is field 1 everywhere");
        if !CREATING_RPCS.contains(&method.name()) {
            let version = field(input, "expected_version")
                .unwrap_or_else(|| panic!("{service}.{} has no expected_version", method.name()));
            assert_eq!(version.r#type(), Type::Uint64);
        }
    }
    assert_eq!(mutating, 18, "every mutating RPC counted");
}

#[test]
fn list_rpcs_paginate() {
    let files = package_files();
    let messages = messages(&files);
    let mut lists = 0;
    for (service, method) in methods(&files) {
        if !method.name().starts_with("List") {
            continue;
        }
        lists += 1;
        let input = &messages[method.input_type()];
        let output = &messages[method.output_type()];
        let size = field(input, "page_size")
            .unwrap_or_else(|| panic!("{service}.{} has no page_size", method.name()));
        assert_eq!(size.r#type(), Type::Int32);
        assert!(
            field(input, "page_token").is_some(),
            "{} page_token",
            method.name()
        );
        assert!(
            field(output, "next_page_token").is_some(),
            "{} next_page_token",
            method.name()
        );
        assert!(
            output
                .field
                .iter()
                .any(|field| field.label() == Label::Repeated),
            "{} returns a repeated field",
            method.name()
        );
    }
    assert_eq!(lists, 9, "every List RPC counted");
}

#[test]
fn resources_carry_a_version() {
    let files = package_files();
    let messages = messages(&files);
    for resource in [
        "Team",
        "Link",
        "InternalRequest",
        "Customer",
        "Ticket",
        "Score",
    ] {
        let message = &messages[&format!(".{PACKAGE}.{resource}")];
        let version =
            field(message, "version").unwrap_or_else(|| panic!("{resource} has no version"));
        assert_eq!(version.r#type(), Type::Uint64, "{resource}.version");
    }
}

#[test]
fn times_are_timestamps_and_spans_are_durations() {
    let files = package_files();
    for message in messages(&files).values() {
        for field in &message.field {
            let name = field.name();
            if name.ends_with("_at")
                || ["start_time", "end_time", "needed_by", "since"].contains(&name)
            {
                assert_eq!(
                    field.type_name(),
                    ".google.protobuf.Timestamp",
                    "{}.{name}",
                    message.name()
                );
            }
            if name.ends_with("_delay") || name == "ola" || name.ends_with("late_by") {
                assert_eq!(
                    field.type_name(),
                    ".google.protobuf.Duration",
                    "{}.{name}",
                    message.name()
                );
            }
        }
    }
}

#[test]
fn the_envelope_has_every_documented_field() {
    let files = package_files();
    let messages = messages(&files);
    let envelope = &messages[".customerchain.v1.EventEnvelope"];
    let expected = [
        ("event_id", Type::String),
        ("aggregate_type", Type::String),
        ("aggregate_id", Type::String),
        ("aggregate_version", Type::Uint64),
        ("event_type", Type::String),
        ("schema_version", Type::Uint32),
        ("occurred_at", Type::Message),
        ("correlation_id", Type::String),
        ("causation_id", Type::String),
        ("actor", Type::String),
        ("traceparent", Type::String),
        ("tracestate", Type::String),
        ("payload", Type::Message),
        ("position", Type::String),
        ("baggage", Type::String),
    ];
    for (name, ty) in expected {
        let found = field(envelope, name).unwrap_or_else(|| panic!("envelope lacks {name}"));
        assert_eq!(found.r#type(), ty, "EventEnvelope.{name}");
    }
    assert_eq!(envelope.field.len(), expected.len());
    let payload = field(envelope, "payload").expect("checked above");
    assert_eq!(payload.type_name(), ".google.protobuf.Any");
}
