/// Why a byte sequence is not a valid header. Parsers throw these with typed throws, which costs no
/// allocation; the dataplane maps them to drop reasons.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header's fixed part or its declared length.
    case truncated
    /// The version field is not the one the header type expects.
    case badVersion
    /// A header-length or total-length field that contradicts the bytes or itself.
    case badLength
    /// A type field (hardware type, protocol type, address sizes) the parser does not accept.
    case badType
    /// More VLAN tags than the dataplane accepts (one).
    case stackedVLAN
    /// An options or extension-header chain that is malformed or too long.
    case badOptions

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .badVersion: "bad version"
        case .badLength: "bad length field"
        case .badType: "unsupported type field"
        case .stackedVLAN: "more than one VLAN tag"
        case .badOptions: "malformed options"
        }
    }
}
