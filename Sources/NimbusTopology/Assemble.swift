import NimbusDataplane
import NimbusWire

/// Builds the public model from a draft that produced no diagnostics.
///
/// A clean draft has every required field, so the `guard`s below never fail in practice; if one does,
/// it is reported as an internal error rather than trapping.
struct Assembler {
    let sink: DiagnosticSink
    let file: String

    func assemble(_ draft: TopologyDraft) -> Topology? {
        guard let name = draft.name?.value else { return incomplete("name") }
        var topology = Topology(file: file, name: name)
        topology.routerMAC = draft.routerMAC?.value ?? Topology.defaultRouterMAC
        topology.conntrack = draft.conntrack
        topology.internet.upstreamMAC = draft.upstreamMAC?.value ?? InternetSettings.defaultUpstreamMAC
        for host in draft.hosts {
            guard let name = host.name?.value, let ip = host.ip?.value else { return incomplete("internet host") }
            topology.internet.hosts.append(InternetHost(name: name, ip: ip))
        }
        for network in draft.networks {
            guard let name = network.name?.value, let cidr = network.cidr?.value else { return incomplete("network") }
            var subnets: [Subnet] = []
            for subnet in network.subnets {
                guard let name = subnet.name?.value, let cidr = subnet.cidr?.value else { return incomplete("subnet") }
                subnets.append(Subnet(name: name, cidr: cidr, networkACL: subnet.networkACL?.value))
            }
            topology.networks.append(
                Network(name: name, cidr: cidr, mode: network.mode, subnets: subnets, nat: network.nat?.gateway))
        }
        for group in draft.groups {
            guard let name = group.name?.value else { return incomplete("security group") }
            let ingress = group.ingress.compactMap(\.rule)
            let egress = group.egress?.compactMap(\.rule)
            guard ingress.count == group.ingress.count, egress?.count == group.egress?.count else {
                return incomplete("security rule")
            }
            topology.securityGroups.append(SecurityGroup(name: name, ingress: ingress, egress: egress))
        }
        for acl in draft.networkACLs {
            guard let name = acl.name?.value else { return incomplete("network ACL") }
            let inbound = acl.inbound.compactMap(\.rule)
            let outbound = acl.outbound.compactMap(\.rule)
            guard inbound.count == acl.inbound.count, outbound.count == acl.outbound.count else {
                return incomplete("network ACL rule")
            }
            // The initializer sorts each list by rule number.
            topology.networkACLs.append(NetworkACL(name: name, inbound: inbound, outbound: outbound))
        }
        for instance in draft.instances {
            guard let name = instance.name?.value, let network = instance.network?.value,
                  let subnet = instance.subnet?.value, let ip = instance.ip?.value else { return incomplete("instance") }
            topology.instances.append(Instance(
                name: name, network: network, subnet: subnet, ip: ip, mac: instance.mac?.value,
                publicIP: instance.publicIP?.value, securityGroups: instance.groups?.map(\.value)))
        }
        for lb in draft.loadBalancers {
            guard let name = lb.name?.value, let vip = lb.vip?.value else { return incomplete("load balancer") }
            var listeners: [Listener] = []
            for listener in lb.listeners {
                guard let proto = listener.proto, let port = listener.port?.value else { return incomplete("listener") }
                var targets: [LBTarget] = []
                for target in listener.targets {
                    guard let instance = target.instance?.value, let weight = target.weight else {
                        return incomplete("target")
                    }
                    targets.append(LBTarget(instance: instance, weight: weight))
                }
                listeners.append(Listener(
                    protocol: proto, port: port, targetPort: listener.targetPort, algorithm: listener.algorithm,
                    hashPort: listener.hashPort, targets: targets))
            }
            topology.loadBalancers.append(LoadBalancer(name: name, vip: vip, listeners: listeners))
        }
        for tunnel in draft.tunnels {
            guard let name = tunnel.name?.value, let network = tunnel.network?.value,
                  let listen = tunnel.listen?.value, let key = tunnel.privateKey else { return incomplete("vpn tunnel") }
            var peers: [VPNPeer] = []
            for peer in tunnel.peers {
                guard let publicKey = peer.publicKey?.value else { return incomplete("vpn peer") }
                peers.append(VPNPeer(
                    publicKey: publicKey, presharedKey: peer.presharedKey, endpoint: peer.endpoint,
                    allowedIPs: peer.allowedIPs.map(\.value), persistentKeepalive: peer.persistentKeepalive))
            }
            topology.vpnTunnels.append(
                VPNTunnel(name: name, network: network, listen: listen, privateKey: key, peers: peers,
                          mtu: tunnel.mtu ?? VPNTunnelConfig.defaultMTU))
        }
        var events: [Event] = []
        for event in draft.events {
            guard let at = event.at, let lb = event.loadBalancer?.value, let instance = event.instance?.value,
                  let state = event.state else { return incomplete("event") }
            events.append(Event(at: at, action: .setTarget(loadBalancer: lb, instance: instance, state: state)))
        }
        // Stable: equal times keep file order, so later lines win when replayed in sequence.
        topology.events = events.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
            .map(\.element)
        return topology
    }

    private func incomplete(_ what: String) -> Topology? {
        sink.error("internal error: a \(what) passed validation incomplete", at: .start)
        return nil
    }
}
