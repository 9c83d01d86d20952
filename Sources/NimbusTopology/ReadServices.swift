import NimbusWire
import Yams

// Load balancers, VPN tunnels and events.
extension TopologyReader {
    func readLoadBalancer(_ node: Node, _ what: String) -> LoadBalancerDraft? {
        let context = describe(node, as: "load balancer")
        guard let map = MappingReader(
            node, what, context: context, allowed: ["name", "vip", "listeners"], sink: sink) else { return nil }
        var lb = LoadBalancerDraft()
        lb.name = sink.required(map, "name", in: context, parseName)
        lb.vip = sink.required(map, "vip", in: context, parseIPv4)
        lb.listeners = requiredEntries(of: map, "listeners", in: context, readListener)
        if let node = map["listeners"], node.isNull || node.sequence?.isEmpty == true {
            sink.error("\(context) needs at least one listener", at: node.position)
        }
        return lb
    }

    func readListener(_ node: Node, _ what: String) -> ListenerDraft? {
        let context = "listener"
        guard let map = MappingReader(
            node, what, context: context,
            allowed: ["protocol", "port", "target-port", "algorithm", "hash-port", "targets"], sink: sink)
        else { return nil }
        var listener = ListenerDraft(position: map.position)
        listener.proto = sink.required(map, "protocol", in: context) { (s) throws(ValueError) in
            try parseChoice(s, kind: "protocol", ["tcp": ListenerProtocol.tcp, "udp": .udp])
        }?.value
        listener.port = sink.required(map, "port", in: context, parsePort)
        listener.targetPort = sink.optional(map, "target-port", parsePort)?.value
        if let algorithm = sink.optional(map, "algorithm", { (s) throws(ValueError) in
            try parseChoice(s, kind: "algorithm", ["round-robin": LBAlgorithm.roundRobin, "source-hash": .sourceHash])
        }) {
            listener.algorithm = algorithm.value
        }
        if let hashPort = sink.optional(map, "hash-port", parseBool) {
            listener.hashPort = hashPort.value
            if hashPort.value, listener.algorithm != .sourceHash {
                sink.error("'hash-port' applies only to the source-hash algorithm", at: hashPort.position)
            }
        }
        listener.targets = requiredEntries(of: map, "targets", in: context, readTarget)
        return listener
    }

    /// A bare instance name, or `{ instance: NAME, weight: N }`.
    func readTarget(_ node: Node, _ what: String) -> TargetDraft? {
        if case .scalar = node {
            return TargetDraft(instance: sink.value(node, what, parseName), weight: 1)
        }
        let context = "target"
        guard let map = MappingReader(
            node, what, context: context, allowed: ["instance", "weight"], sink: sink) else { return nil }
        var target = TargetDraft()
        target.instance = sink.required(map, "instance", in: context, parseName)
        target.weight = 1
        if map["weight"] != nil {
            target.weight = sink.optional(map, "weight") { (s) throws(ValueError) in
                try parseInteger(s, in: 1...255, kind: "weight")
            }?.value
        }
        return target
    }

    func readTunnel(_ node: Node, _ what: String) -> TunnelDraft? {
        let context = describe(node, as: "vpn tunnel")
        guard let map = MappingReader(
            node, what, context: context, allowed: ["name", "network", "listen", "private-key", "mtu", "peers"], sink: sink)
        else { return nil }
        var tunnel = TunnelDraft()
        tunnel.name = sink.required(map, "name", in: context, parseName)
        tunnel.network = sink.required(map, "network", in: context, parseName)
        tunnel.listen = sink.required(map, "listen", in: context, parseEndpoint)
        tunnel.privateKey = sink.required(map, "private-key", in: context, parseKey32)?.value
        tunnel.mtu = sink.optional(map, "mtu") { (s) throws(ValueError) in
            try parseInteger(s, in: 576...9000, kind: "mtu")
        }?.value
        tunnel.peers = requiredEntries(of: map, "peers", in: context, readPeer)
        return tunnel
    }

    func readPeer(_ node: Node, _ what: String) -> PeerDraft? {
        let context = "vpn peer"
        guard let map = MappingReader(
            node, what, context: context,
            allowed: ["public-key", "preshared-key", "endpoint", "allowed-ips", "persistent-keepalive"], sink: sink)
        else { return nil }
        var peer = PeerDraft()
        peer.publicKey = sink.required(map, "public-key", in: context, parseKey32)
        peer.presharedKey = sink.optional(map, "preshared-key", parseKey32)?.value
        peer.endpoint = sink.optional(map, "endpoint", parseEndpoint)?.value
        if let node = map.required("allowed-ips", in: context, sink: sink) {
            peer.allowedIPs = sink.listOfValues(node, q("allowed-ips"), parseIPCIDR) ?? []
        }
        peer.persistentKeepalive = sink.optional(map, "persistent-keepalive") { (s) throws(ValueError) in
            try parseInteger(s, in: 1...65535, kind: "persistent-keepalive")
        }?.value
        return peer
    }

    func readEvent(_ node: Node, _ what: String) -> EventDraft? {
        let context = "event"
        guard let map = MappingReader(node, what, context: context, allowed: ["at", "set-target"], sink: sink)
        else { return nil }
        var event = EventDraft()
        event.at = sink.required(map, "at", in: context, parseDuration)?.value
        guard let action = map.required("set-target", in: context, sink: sink),
              let set = MappingReader(
                action, q("set-target"), context: "set-target", allowed: ["load-balancer", "instance", "state"],
                sink: sink)
        else { return event }
        event.loadBalancer = sink.required(set, "load-balancer", in: "set-target", parseName)
        event.instance = sink.required(set, "instance", in: "set-target", parseName)
        event.state = sink.required(set, "state", in: "set-target") { (s) throws(ValueError) in
            try parseChoice(s, kind: "state", ["up": TargetState.up, "down": .down, "draining": .draining])
        }?.value
        return event
    }
}
