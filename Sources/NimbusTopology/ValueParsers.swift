import Foundation
import NimbusWire

// Parsers for the scalar values of a topology file. Each takes the scalar's text and either returns the
// value or throws a `ValueError` that `DiagnosticSink.value` turns into
// "invalid KIND 'TEXT' for 'KEY': DETAIL" at the value's position.

/// Why a scalar is not a valid value of its kind.
struct ValueError: Error {
    /// What was expected, as in "invalid <kind>".
    var kind: String
    var detail: String?
}

func parseIPv4(_ text: String) throws(ValueError) -> IPv4Address {
    guard let ip = IPv4Address(text) else {
        throw ValueError(kind: "IPv4 address", detail: text.contains("/") ? "a single address, not a CIDR" : nil)
    }
    return ip
}

func parseMAC(_ text: String) throws(ValueError) -> MACAddress {
    guard let mac = MACAddress(text) else {
        throw ValueError(kind: "MAC address", detail: "expected six hex bytes like 02:00:00:00:00:01")
    }
    guard !mac.isMulticast else {
        throw ValueError(kind: "MAC address", detail: "a multicast or broadcast address cannot be a station's")
    }
    return mac
}

/// Host bits set is the usual slip (`10.0.1.5/24`), so the error names the prefix that was meant.
func parseIPv4CIDR(_ text: String) throws(ValueError) -> IPv4CIDR {
    if let cidr = IPv4CIDR(text, strict: true), text.contains("/") { return cidr }
    if !text.contains("/") {
        throw ValueError(kind: "CIDR", detail: "expected an address and a prefix length like 10.0.0.0/16")
    }
    if let loose = IPv4CIDR(text, strict: false) {
        throw ValueError(kind: "CIDR", detail: "host bits are set; did you mean \(loose)?")
    }
    throw ValueError(kind: "CIDR", detail: nil)
}

/// A bare address is accepted as a host prefix (/32 or /128), as in security-group sources.
func parseIPCIDR(_ text: String) throws(ValueError) -> IPCIDR {
    if let cidr = IPCIDR(text, strict: true) { return cidr }
    if let loose = IPCIDR(text, strict: false) {
        throw ValueError(kind: "CIDR", detail: "host bits are set; did you mean \(loose)?")
    }
    throw ValueError(kind: "CIDR", detail: nil)
}

func parseInteger(_ text: String, in range: ClosedRange<Int>, kind: String) throws(ValueError) -> Int {
    guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) || (text.first == "-" && text.dropFirst().allSatisfy(\.isASCIIDigit)),
          let n = Int(text) else {
        throw ValueError(kind: kind, detail: "expected an integer from \(range.lowerBound) to \(range.upperBound)")
    }
    guard range.contains(n) else {
        throw ValueError(kind: kind, detail: "must be from \(range.lowerBound) to \(range.upperBound)")
    }
    return n
}

func parsePort(_ text: String) throws(ValueError) -> UInt16 {
    UInt16(try parseInteger(text, in: 1...65535, kind: "port"))
}

/// `80` or `1024-65535`.
func parsePortRange(_ text: String) throws(ValueError) -> ClosedRange<UInt16> {
    let ends = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        .map { $0.trimmingCharacters(in: .whitespaces) }
    guard let low = try? parsePort(ends[0]), let high = ends.count == 2 ? try? parsePort(ends[1]) : low else {
        throw ValueError(kind: "port range", detail: "expected PORT or LOW-HIGH, with ports from 1 to 65535")
    }
    guard low <= high else { throw ValueError(kind: "port range", detail: "the first port is above the last") }
    return low...high
}

/// `22`, `"80,443"`, `"1024-65535"`, `"80,8000-8080"`.
func parsePortList(_ text: String) throws(ValueError) -> [ClosedRange<UInt16>] {
    var ranges: [ClosedRange<UInt16>] = []
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
        let item = item.trimmingCharacters(in: .whitespaces)
        do {
            ranges.append(try parsePortRange(item))
        } catch {
            throw ValueError(kind: "ports", detail: "'\(item)': \(error.detail ?? "")")
        }
    }
    return ranges
}

/// `a.b.c.d:port`.
func parseEndpoint(_ text: String) throws(ValueError) -> Endpoint {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let ip = IPv4Address(parts[0]), let port = try? parsePort(String(parts[1])) else {
        throw ValueError(kind: "endpoint", detail: "expected IPV4:PORT like 192.0.2.10:51820")
    }
    return Endpoint(ip: ip, port: port)
}

/// A WireGuard key: standard base64 of exactly 32 bytes.
func parseKey32(_ text: String) throws(ValueError) -> [UInt8] {
    guard let data = Data(base64Encoded: text) else {
        throw ValueError(kind: "key", detail: "not base64; expected 32 bytes in base64, as `wg genkey` prints")
    }
    guard data.count == 32 else {
        throw ValueError(kind: "key", detail: "decodes to \(data.count) bytes; a WireGuard key is 32")
    }
    return [UInt8](data)
}

func parseBool(_ text: String) throws(ValueError) -> Bool {
    switch text {
    case "true": return true
    case "false": return false
    default: throw ValueError(kind: "boolean", detail: "expected true or false")
    }
}

/// Names become port names, file names and `sg:` references, so they keep to a safe alphabet.
func parseName(_ text: String) throws(ValueError) -> String {
    guard let first = text.first, first.isASCII && (first.isLetter || first.isNumber),
          text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") })
    else {
        throw ValueError(kind: "name", detail: "use letters, digits, '.', '_' and '-', starting with a letter or digit")
    }
    return text
}

/// One of a fixed set of words.
func parseChoice<E>(_ text: String, kind: String, _ choices: KeyValuePairs<String, E>) throws(ValueError) -> E {
    if let match = choices.first(where: { $0.key == text }) { return match.value }
    let names = choices.map(\.key)
    throw ValueError(kind: kind, detail: "expected \(names.joined(separator: " or "))" + didYouMean(text, among: names))
}

/// `tcp`, `udp`, `icmp`, `icmpv6`, `all`, or an IP protocol number.
func parseRuleProtocol(_ text: String) throws(ValueError) -> RuleProtocol {
    let names: KeyValuePairs<String, RuleProtocol> = [
        "all": .all, "tcp": .tcp, "udp": .udp, "icmp": .icmp, "icmpv6": .icmpv6,
    ]
    if let match = names.first(where: { $0.key == text.lowercased() }) { return match.value }
    if !text.isEmpty, text.allSatisfy(\.isASCIIDigit) {
        guard let n = UInt8(text) else { throw ValueError(kind: "protocol", detail: "protocol numbers are 0 to 255") }
        return .number(n)
    }
    throw ValueError(
        kind: "protocol",
        detail: "expected tcp, udp, icmp, icmpv6, all or a number 0-255" + didYouMean(text, among: names.map(\.key)))
}
