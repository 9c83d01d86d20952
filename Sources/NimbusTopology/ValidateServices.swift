import NimbusWire

// Cross-checks for load balancers, tunnels, events and the public address space.
extension Validator {
    func checkLoadBalancers() {
        let instanceNames = draft.instances.compactMap(\.name?.value)
        let instanceSet = Set(instanceNames)
        var privateVIPs: [IPv4Address: (String, Position)] = [:]
        for lb in draft.loadBalancers {
            let name = lb.name?.value ?? "?"
            if let vip = lb.vip, vip.value.isPrivate {
                checkPrivateVIP(vip, of: name)
                if let first = privateVIPs[vip.value] {
                    sink.error(
                        "vip \(vip.value) is already used by load balancer \(q(first.0)) (at \(first.1))",
                        at: vip.position)
                } else {
                    privateVIPs[vip.value] = (name, vip.position)
                }
            }
            var listeners: [String: Position] = [:]
            for listener in lb.listeners {
                if let proto = listener.proto, let port = listener.port {
                    let key = "\(proto.rawValue)/\(port.value)"
                    if let first = listeners[key] {
                        sink.error(
                            "load balancer \(q(name)) already has a \(key) listener (at \(first))", at: port.position)
                    } else {
                        listeners[key] = port.position
                    }
                }
                var targets: Set<String> = []
                for case let target? in listener.targets.map(\.instance) {
                    if !instanceSet.contains(target.value) {
                        unknown("instance", target, among: instanceNames)
                    } else if !targets.insert(target.value).inserted {
                        sink.error("instance \(q(target.value)) is already a target of this listener", at: target.position)
                    }
                }
            }
        }
    }

    /// An internal LB's VIP is answered on a subnet, so it must be a free host address there.
    func checkPrivateVIP(_ vip: Located<IPv4Address>, of name: String) {
        let subnets = draft.networks.flatMap(\.subnets)
        guard let subnet = subnets.first(where: { $0.cidr?.value.contains(vip.value) == true }) else {
            sink.error(
                "private vip \(vip.value) of load balancer \(q(name)) is in no subnet; "
                    + "an internal load balancer's vip must be a free address in a subnet", at: vip.position)
            return
        }
        if let problem = Self.hostProblem(vip.value, in: subnet) {
            sink.error("vip \(vip.value) of load balancer \(q(name)) \(problem)", at: vip.position)
        } else if let owner = draft.instances.first(where: { $0.ip?.value == vip.value }) {
            sink.error(
                "vip \(vip.value) of load balancer \(q(name)) is the ip of instance \(q(owner.name?.value ?? "?"))",
                at: vip.position)
        }
    }

    func checkTunnels() {
        let networkNames = draft.networks.compactMap(\.name?.value)
        var siteRoutes: [(IPv4CIDR, String)] = []
        for tunnel in draft.tunnels {
            let label = "vpn tunnel \(q(tunnel.name?.value ?? "?"))"
            var mine: [(IPv4CIDR, String)] = []
            defer { siteRoutes += mine }
            var own: IPv4CIDR?
            if let ref = tunnel.network {
                if let network = network(named: ref.value) {
                    own = network.cidr?.value
                } else {
                    unknown("network", ref, among: networkNames)
                }
            }
            var keys: [[UInt8]: Position] = [:]
            var prefixes: [IPCIDR: Position] = [:]
            for peer in tunnel.peers {
                if let key = peer.publicKey {
                    if let first = keys[key.value] {
                        sink.error("\(label) already has a peer with this public key (at \(first))", at: key.position)
                    } else {
                        keys[key.value] = key.position
                    }
                }
                for prefix in peer.allowedIPs {
                    if case .v4(let v4) = prefix.value, let own, own.overlaps(v4) {
                        sink.error(
                            "allowed-ips \(v4) overlaps the tunnel's own network \(q(tunnel.network?.value ?? "?")) "
                                + "(\(own))", at: prefix.position)
                    } else if case .v4(let v4) = prefix.value,
                              let other = draft.networks.first(where: { $0.cidr.map { $0.value.overlaps(v4) } ?? false }) {
                        sink.error(
                            "allowed-ips \(v4) overlaps network \(q(other.name?.value ?? "?")) (\(other.cidr!.value)) of this site",
                            at: prefix.position)
                    }
                    if case .v4(let v4) = prefix.value {
                        if let (first, owner) = siteRoutes.first(where: { $0.0.overlaps(v4) && $0.1 != label }) {
                            sink.error("allowed-ips \(v4) overlaps \(first) of \(owner): a destination can route into one tunnel only",
                                       at: prefix.position)
                        }
                        mine.append((v4, label))
                    }
                    if let first = prefixes[prefix.value] {
                        sink.error(
                            "allowed-ips \(prefix.value) is already routed to another peer of \(label) (at \(first))",
                            at: prefix.position)
                    } else {
                        prefixes[prefix.value] = prefix.position
                    }
                }
            }
        }
    }

    func checkEvents() {
        let lbNames = draft.loadBalancers.compactMap(\.name?.value)
        for event in draft.events {
            guard let lbRef = event.loadBalancer else { continue }
            guard let lb = draft.loadBalancers.first(where: { $0.name?.value == lbRef.value }) else {
                unknown("load balancer", lbRef, among: lbNames)
                continue
            }
            let targets = lb.listeners.flatMap { $0.targets.compactMap(\.instance?.value) }
            if let instance = event.instance, !targets.contains(instance.value) {
                sink.error(
                    "instance \(q(instance.value)) is not a target of load balancer \(q(lbRef.value))"
                        + didYouMean(instance.value, among: targets), at: instance.position)
            }
        }
    }

    /// Public addresses are global: each may have one owner in the topology, and none may sit inside a
    /// public-ip network except that network's own instances.
    func checkPublicAddresses() {
        var uses: [(ip: IPv4Address, what: String, position: Position, isInstanceIP: Bool)] = []
        for instance in draft.instances {
            let label = "instance \(q(instance.name?.value ?? "?"))"
            if let ip = instance.publicIP { uses.append((ip.value, "public-ip of \(label)", ip.position, false)) }
            if let ip = instance.ip, let ref = instance.network, network(named: ref.value)?.mode == .publicIP {
                uses.append((ip.value, "ip of \(label)", ip.position, true))
            }
        }
        for network in draft.networks {
            for ip in network.nat?.publicIPs ?? [] {
                uses.append((ip.value, "NAT public IP of network \(q(network.name?.value ?? "?"))", ip.position, false))
            }
        }
        for lb in draft.loadBalancers {
            if let vip = lb.vip, !vip.value.isPrivate {
                uses.append((vip.value, "vip of load balancer \(q(lb.name?.value ?? "?"))", vip.position, false))
            }
        }
        for tunnel in draft.tunnels {
            if let listen = tunnel.listen {
                let what = "listen address of vpn tunnel \(q(tunnel.name?.value ?? "?"))"
                uses.append((listen.value.ip, what, listen.position, false))
            }
        }
        for host in draft.hosts {
            if let ip = host.ip {
                uses.append((ip.value, "ip of internet host \(q(host.name?.value ?? "?"))", ip.position, false))
            }
        }
        let publicNetworks = draft.networks.filter { $0.mode == .publicIP }
        var first: [IPv4Address: (what: String, position: Position, isInstanceIP: Bool)] = [:]
        for use in uses.sorted(by: { $0.position < $1.position }) {
            if let earlier = first[use.ip] {
                // Two instances with one ip are reported by `checkInstances` already.
                if earlier.isInstanceIP && use.isInstanceIP { continue }
                sink.error(
                    "public address \(use.ip) (\(use.what)) is already used as \(earlier.what) (at \(earlier.position))",
                    at: use.position)
                continue
            }
            first[use.ip] = (use.what, use.position, use.isInstanceIP)
            if !use.isInstanceIP,
               let network = publicNetworks.first(where: { $0.cidr?.value.contains(use.ip) == true }),
               let cidr = network.cidr {
                sink.error(
                    "public address \(use.ip) (\(use.what)) lies inside public-ip network \(q(network.name?.value ?? "?")) "
                        + "(\(cidr.value)), whose addresses belong to its instances", at: use.position)
            }
        }
    }
}
