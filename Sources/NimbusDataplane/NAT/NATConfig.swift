import NimbusWire

/// A network's NAT gateway, as the dataplane runs it.
public struct NATGatewayConfig: Sendable {
    /// The nat-private network it serves (index into `DataplaneConfig.networks`).
    public var network: Int
    public var publicIPs: [IPv4Address]
    public var ports: ClosedRange<UInt16>
    /// Mapping lifetimes in nanoseconds (RFC 4787/5382/5508 defaults: 7440 s, 240 s, 300 s, 60 s).
    public var tcpEstablished: UInt64
    public var tcpTransitory: UInt64
    public var udp: UInt64
    public var icmp: UInt64
    /// Endpoint-independent filtering admits any remote to a live mapping; otherwise (the default) only
    /// remotes the instance has sent to (address-and-port-dependent filtering, RFC 4787 REQ-8).
    public var endpointIndependentFiltering: Bool

    public init(network: Int, publicIPs: [IPv4Address], ports: ClosedRange<UInt16> = 1024...65535,
                tcpEstablished: UInt64 = 7440 * 1_000_000_000, tcpTransitory: UInt64 = 240 * 1_000_000_000,
                udp: UInt64 = 300 * 1_000_000_000, icmp: UInt64 = 60 * 1_000_000_000,
                endpointIndependentFiltering: Bool = false) {
        self.network = network
        self.publicIPs = publicIPs
        self.ports = ports
        self.tcpEstablished = tcpEstablished
        self.tcpTransitory = tcpTransitory
        self.udp = udp
        self.icmp = icmp
        self.endpointIndependentFiltering = endpointIndependentFiltering
    }
}
