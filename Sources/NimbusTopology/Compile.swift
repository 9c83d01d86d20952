import NimbusDataplane
import NimbusWire

extension Topology {
    /// Compiles the validated topology into what the dataplane runs: ports numbered (0 is the internet
    /// uplink, then instances in file order), subnets and networks indexed, and the public addresses the
    /// site owns beyond its instances.
    public func dataplaneConfig() -> DataplaneConfig {
        var networks: [DataplaneConfig.Network] = []
        var subnets: [DataplaneConfig.Subnet] = []
        var subnetIndex: [String: Int] = [:]  // "network/subnet"
        for (n, net) in self.networks.enumerated() {
            let mode: NimbusDataplane.NetworkMode = net.mode == .publicIP ? .publicIP : .natPrivate
            networks.append(DataplaneConfig.Network(name: net.name, cidr: net.cidr, mode: mode))
            for s in net.subnets {
                subnetIndex[net.name + "/" + s.name] = subnets.count
                subnets.append(DataplaneConfig.Subnet(name: s.name, network: n, cidr: s.cidr))
            }
        }
        let networkIndex = Dictionary(uniqueKeysWithValues: self.networks.enumerated().map { ($1.name, $0) })
        let ports = instances.map { inst in
            DataplaneConfig.Port(name: inst.name, peerMAC: inst.mac, ip: inst.ip,
                                 subnet: subnetIndex[inst.network + "/" + inst.subnet] ?? -1,
                                 network: networkIndex[inst.network] ?? -1, publicIP: inst.publicIP)
        }
        var extra: [IPv4Address] = []
        for net in self.networks { extra += net.nat?.publicIPs ?? [] }
        for lb in loadBalancers where !self.networks.contains(where: { $0.cidr.contains(lb.vip) }) {
            extra.append(lb.vip)
        }
        for t in vpnTunnels { extra.append(t.listen.ip) }
        return DataplaneConfig(name: name, routerMAC: routerMAC, upstreamMAC: internet.upstreamMAC,
                               networks: networks, subnets: subnets, instances: ports,
                               extraPublicAddresses: extra)
    }
}
