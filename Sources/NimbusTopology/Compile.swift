import NimbusDataplane
import NimbusVPN
import NimbusWire

extension Topology {
    /// Compiles the validated topology into what the dataplane runs: ports numbered (0 is the internet
    /// uplink, then instances in file order), subnets and networks indexed, and the public addresses the
    /// site owns beyond its instances.
    public func dataplaneConfig() -> DataplaneConfig {
        var networks: [DataplaneConfig.Network] = []
        var subnets: [DataplaneConfig.Subnet] = []
        var subnetIndex: [String: Int] = [:]  // "network/subnet"
        let aclIndex = Dictionary(uniqueKeysWithValues: networkACLs.enumerated().map { ($1.name, $0) })
        for (n, net) in self.networks.enumerated() {
            networks.append(DataplaneConfig.Network(name: net.name, cidr: net.cidr, mode: net.mode))
            for s in net.subnets {
                subnetIndex[net.name + "/" + s.name] = subnets.count
                subnets.append(DataplaneConfig.Subnet(name: s.name, network: n, cidr: s.cidr,
                                                      networkACL: s.networkACL.flatMap { aclIndex[$0] }))
            }
        }
        let networkIndex = Dictionary(uniqueKeysWithValues: self.networks.enumerated().map { ($1.name, $0) })
        let portOf = Dictionary(uniqueKeysWithValues: instances.enumerated().map { ($1.name, UInt16($0 + 1)) })
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
                               extraPublicAddresses: extra, firewall: firewallConfig(),
                               networkACLs: networkACLs.map(Self.aclSpec),
                               natGateways: self.networks.enumerated().compactMap { n, net in
                                   net.nat.map { nat in
                                       NATGatewayConfig(network: n, publicIPs: nat.publicIPs, ports: nat.ports,
                                                        tcpEstablished: nat.timeouts.tcpEstablished,
                                                        tcpTransitory: nat.timeouts.tcpTransitory,
                                                        udp: nat.timeouts.udp, icmp: nat.timeouts.icmp,
                                                        endpointIndependentFiltering: nat.filtering == .endpointIndependent)
                                   }
                               },
                               loadBalancers: loadBalancers.map { lb in
                                   LoadBalancerConfig(name: lb.name, vip: lb.vip, listeners: lb.listeners.map { l in
                                       LoadBalancerConfig.Listener(
                                           protocolNumber: l.protocol == .tcp ? 6 : 17, port: l.port, targetPort: l.targetPort,
                                           sourceHash: l.algorithm == .sourceHash, hashPort: l.hashPort,
                                           targets: l.targets.compactMap { t in
                                               portOf[t.instance].map { LoadBalancerConfig.Target(port: $0, weight: t.weight) }
                                           })
                                   })
                               },
                               vpnTunnels: vpnTunnels.map { t in
                                   VPNTunnelConfig(
                                       name: t.name, network: networkIndex[t.network] ?? 0,
                                       listen: WireGuardEndpoint(address: t.listen.ip, port: t.listen.port),
                                       privateKey: WireGuardKey(bytes: t.privateKey)!,
                                       peers: t.peers.map { p in
                                           WireGuardPeerConfig(
                                               publicKey: WireGuardKey(bytes: p.publicKey)!,
                                               presharedKey: p.presharedKey.flatMap { WireGuardKey(bytes: $0) },
                                               endpoint: p.endpoint.map { WireGuardEndpoint(address: $0.ip, port: $0.port) },
                                               allowedIPs: p.allowedIPs.compactMap { if case .v4(let c) = $0 { c } else { nil } },
                                               persistentKeepalive: p.persistentKeepalive.map { UInt16($0) })
                                       },
                                       mtu: t.mtu)
                               })
    }

    /// The topology's events as the replay applies them: capture time offset (from the first packet),
    /// load balancer index, instance port, health.
    public func dataplaneEvents() -> [(at: UInt64, loadBalancer: Int, port: UInt16, health: TargetHealth)] {
        let portOf = Dictionary(uniqueKeysWithValues: instances.enumerated().map { ($1.name, UInt16($0 + 1)) })
        let lbOf = Dictionary(uniqueKeysWithValues: loadBalancers.enumerated().map { ($1.name, $0) })
        return events.compactMap { e in
            switch e.action {
            case .setTarget(let lb, let instance, let state):
                guard let b = lbOf[lb], let p = portOf[instance] else { return nil }
                let h: TargetHealth = switch state {
                case .up: .up
                case .down: .down
                case .draining: .draining
                }
                return (e.at, b, p, h)
            }
        }
    }

    /// A network ACL's rules in number order; IPv6 rules are left out (IPv6 is not routed).
    static func aclSpec(_ acl: NetworkACL) -> NetworkACLSpec {
        func rules(_ list: [ACLRule]) -> [ACLRuleSpec] {
            list.compactMap { r in
                guard case .v4(let peer) = r.peer else { return nil }
                let proto: UInt8? = switch r.protocol {
                case .all: nil
                case .number(let n): n
                }
                return ACLRuleSpec(allow: r.action == .allow, protocolNumber: proto, ports: r.ports,
                                   icmpType: r.icmpType, icmpCode: r.icmpCode, peer: peer, number: r.number)
            }
        }
        return NetworkACLSpec(name: acl.name, inbound: rules(acl.inbound), outbound: rules(acl.outbound))
    }

    /// Security groups with `sg:NAME` resolved to the members' addresses, plus each network's default
    /// group (ingress from its own members, all egress) for instances that name no group.
    func firewallConfig() -> FirewallConfig {
        func members(_ group: String) -> [IPv4CIDR] {
            instances.filter { $0.securityGroups?.contains(group) ?? false }
                .map { IPv4CIDR(address: $0.ip, prefixLength: 32) }
        }
        func spec(_ r: SecurityRule) -> SecurityRuleSpec {
            let proto: UInt8? = switch r.protocol {
            case .all: nil
            case .number(let n): n
            }
            let peers: [IPv4CIDR] = switch r.peer {
            case .cidr(.v4(let c)): [c]
            case .cidr(.v6): []  // IPv6 is not routed; such a rule admits nothing
            case .group(let g): members(g)
            }
            return SecurityRuleSpec(protocolNumber: proto, ports: r.ports, icmpType: r.icmpType, icmpCode: r.icmpCode,
                                    peers: peers)
        }
        var groups = securityGroups.map {
            SecurityGroupSpec(name: $0.name, ingress: $0.ingress.map(spec), egress: $0.egress?.map(spec))
        }
        let groupIndex = Dictionary(uniqueKeysWithValues: securityGroups.enumerated().map { ($1.name, $0) })
        var defaultGroup: [String: Int] = [:]
        for net in networks {
            let defaultMembers = instances.filter { $0.network == net.name && $0.securityGroups == nil }
                .map { IPv4CIDR(address: $0.ip, prefixLength: 32) }
            defaultGroup[net.name] = groups.count
            groups.append(SecurityGroupSpec(name: "default (\(net.name))",
                                            ingress: [SecurityRuleSpec(protocolNumber: nil, peers: defaultMembers)],
                                            egress: nil))
        }
        let portGroups: [[Int]] = [[]] + instances.map { inst in
            inst.securityGroups.map { $0.compactMap { groupIndex[$0] } } ?? [defaultGroup[inst.network] ?? 0]
        }
        return FirewallConfig(groups: groups, portGroups: portGroups, loosePickup: conntrack.tcpPickup == .loose,
                              maxFlows: conntrack.maxFlows)
    }
}
