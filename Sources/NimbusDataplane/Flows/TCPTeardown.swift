import NimbusWire

/// How far a TCP connection through a NAT mapping or a load-balanced flow has come apart: which sides
/// sent a FIN, and whether it is closed (FIN both ways, or a RST). It decides when such an entry gets
/// its short timeout; connection tracking keeps the fuller state machine of `FlowState`.
public struct TCPTeardown: Sendable, BitwiseCopyable, Equatable {
    private var bits: UInt8 = 0
    private static let finFromOriginator: UInt8 = 1
    private static let finFromResponder: UInt8 = 2
    private static let closedBit: UInt8 = 4

    public init() {}

    /// Takes in a packet's TCP flags, sent by the side that opened the connection or by the other.
    @inlinable
    public mutating func observe(_ tcpFlags: UInt8, fromOriginator: Bool) {
        if tcpFlags & TCPHeader.rst != 0 { markClosed() }
        if tcpFlags & TCPHeader.fin != 0 { markFin(fromOriginator: fromOriginator) }
    }

    @usableFromInline mutating func markClosed() { bits |= TCPTeardown.closedBit }

    @usableFromInline mutating func markFin(fromOriginator: Bool) {
        bits |= fromOriginator ? TCPTeardown.finFromOriginator : TCPTeardown.finFromResponder
        let both = TCPTeardown.finFromOriginator | TCPTeardown.finFromResponder
        if bits & both == both { bits |= TCPTeardown.closedBit }
    }

    /// FIN seen both ways, or a RST.
    public var isClosed: Bool { bits & TCPTeardown.closedBit != 0 }
}
