import NimbusVPN
import NimbusWire

/// A site-to-site VPN tunnel: one WireGuard interface attached to a network. Its peers' allowed-ips become
/// routes of that network; what it decrypts enters that network.
public struct VPNTunnelConfig: Sendable {
    public var name: String
    /// Index into `DataplaneConfig.networks`.
    public var network: Int
    /// Our public UDP endpoint (an address of the site, answered for on the uplink).
    public var listen: WireGuardEndpoint
    public var privateKey: WireGuardKey
    public var peers: [WireGuardPeerConfig]
    /// The largest inner packet sent sealed as one datagram (WireGuard's default 1420 leaves room for the
    /// 60 bytes of outer IPv4, UDP and WireGuard headers and tag on a 1500-byte link, plus padding).
    public var mtu: Int

    /// WireGuard's own default: room on a 1500-byte link for the outer IPv6 (or IPv4) and UDP headers
    /// and WireGuard's 32 bytes of header and tag.
    public static let defaultMTU = 1420

    public init(name: String, network: Int, listen: WireGuardEndpoint, privateKey: WireGuardKey,
                peers: [WireGuardPeerConfig], mtu: Int = VPNTunnelConfig.defaultMTU) {
        self.name = name
        self.network = network
        self.listen = listen
        self.privateKey = privateKey
        self.peers = peers
        self.mtu = mtu
    }
}
