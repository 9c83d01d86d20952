#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line of `--flow-log`: one flow, accepted or rejected. Written by `FlowLogRecord.encoder()`, one
/// compact JSON object per line with sorted keys.
public struct FlowLogRecord: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable {
        /// A flow the connection tracker admitted; `end-reason` says how it ended.
        case accept = "ACCEPT"
        /// Packets of one 5-tuple refused for one reason (`reason`: a drop reason's name).
        case reject = "REJECT"
    }

    /// `tcp`, `udp`, `icmp`, or the protocol number.
    public var `protocol`: String
    public var source: String
    /// 0 unless TCP or UDP.
    public var sourcePort: UInt16
    public var destination: String
    public var destinationPort: UInt16
    public var packets: UInt64
    public var bytes: UInt64
    /// Capture time of the first packet.
    public var start: CaptureSeconds
    /// Capture time of the last packet.
    public var end: CaptureSeconds
    public var action: Action
    /// Accepted flows only: `expired`, `closed` or `open`.
    public var endReason: String?
    /// Rejected flows only: the drop reason.
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case `protocol`, source, sourcePort = "source-port", destination, destinationPort = "destination-port"
        case packets, bytes, start, end, action, endReason = "end-reason", reason
    }

    public init(protocol: String, source: String, sourcePort: UInt16, destination: String, destinationPort: UInt16,
                packets: UInt64, bytes: UInt64, start: CaptureSeconds, end: CaptureSeconds, action: Action,
                endReason: String? = nil, reason: String? = nil) {
        self.protocol = `protocol`
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.packets = packets
        self.bytes = bytes
        self.start = start
        self.end = end
        self.action = action
        self.endReason = endReason
        self.reason = reason
    }

    /// The encoder for flow-log lines: compact, keys sorted. One serves every line of a log.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

/// A capture time, written as a JSON number of seconds exact to the nanosecond (a `Double` is not: a
/// time in 2023 has ten digits before the point). Trailing zeros of the fraction are left out:
/// `1700000300.4` is 1700000300.400000000 s.
public struct CaptureSeconds: Codable, Hashable, Sendable, Comparable {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Decimal(sign: .plus, exponent: -9, significand: Decimal(nanoseconds)))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let seconds = try c.decode(Decimal.self)
        // Whole nanoseconds, from the decimal text of seconds x 10^9.
        guard seconds >= 0, let ns = UInt64((seconds * Decimal(1_000_000_000)).description) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a capture time in whole nanoseconds: \(seconds)")
        }
        nanoseconds = ns
    }
}
