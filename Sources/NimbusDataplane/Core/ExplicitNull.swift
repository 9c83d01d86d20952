/// An optional member of a JSON output (`report.json`, `nimbus bench --json`) whose key is always
/// written: `null` when there is no value. Synthesized `Codable` leaves a `nil` optional's key out, which
/// suits keys that exist only sometimes; keys scripts can rely on use this instead. Decoding requires the
/// key (`null` or a value), so a schema check catches it missing.
@propertyWrapper
public struct ExplicitNull<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}
