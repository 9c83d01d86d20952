import NimbusWire
import Yams

/// Reads composed YAML into a `TopologyDraft`, checking each part on its own: keys, types and value
/// syntax. Checks that relate parts of the file to each other are in `Validation.swift`.
struct TopologyReader {
    let sink: DiagnosticSink

    static let topKeys = [
        "version", "name", "router-mac", "conntrack", "internet", "networks", "security-groups", "network-acls",
        "instances", "load-balancers", "vpn-tunnels", "events",
    ]

    func read(_ root: Node) -> TopologyDraft {
        var draft = TopologyDraft()
        let context = "the topology"
        guard let top = MappingReader(root, "a topology file", context: context, allowed: Self.topKeys, sink: sink)
        else { return draft }
        if let version = top.required("version", in: context, sink: sink), let text = sink.scalar(version, q("version")),
           text != "1" {
            sink.error("unsupported version '\(text)'; this Nimbus reads version 1", at: version.position)
        }
        draft.name = sink.required(top, "name", in: context, parseName)
        draft.routerMAC = sink.optional(top, "router-mac", parseMAC)
        if let node = top["conntrack"] { draft.conntrack = readConntrack(node) }
        if let node = top["internet"] { readInternet(node, into: &draft) }
        draft.networks = entries(of: top, "networks", readNetwork)
        draft.groups = entries(of: top, "security-groups", readGroup)
        draft.networkACLs = entries(of: top, "network-acls", readNetworkACL)
        draft.instances = entries(of: top, "instances", readInstance)
        draft.loadBalancers = entries(of: top, "load-balancers", readLoadBalancer)
        draft.tunnels = entries(of: top, "vpn-tunnels", readTunnel)
        draft.events = entries(of: top, "events", readEvent)
        return draft
    }

    /// The entries of an optional list-valued key, each read by `read` (which reports its own errors).
    /// A key with no value is an empty list, as when every entry has been commented out.
    func entries<T>(of reader: MappingReader, _ key: String, _ read: (Node, String) -> T?) -> [T] {
        guard let node = reader[key], !node.isNull, let items = sink.list(node, q(key)) else { return [] }
        return items.compactMap { read($0, "each entry of \(q(key))") }
    }

    /// Same, for a required key.
    func requiredEntries<T>(
        of reader: MappingReader, _ key: String, in context: String, _ read: (Node, String) -> T?
    ) -> [T] {
        guard reader.required(key, in: context, sink: sink) != nil else { return [] }
        return entries(of: reader, key, read)
    }

    /// "network 'vpc'" when the entry has a readable name, else "network": names the entry in messages
    /// about keys, before its name has been validated.
    func describe(_ node: Node, as kind: String, nameKey: String = "name") -> String {
        guard case .mapping(let mapping) = node,
              let nameNode = mapping.first(where: { $0.key.scalar?.string == nameKey })?.value,
              case .scalar(let s) = nameNode, !nameNode.isNull else { return kind }
        return "\(kind) '\(s.string)'"
    }

    func readConntrack(_ node: Node) -> ConntrackSettings {
        var settings = ConntrackSettings()
        guard let map = MappingReader(
            node, q("conntrack"), context: "conntrack", allowed: ["tcp-pickup", "max-flows"], sink: sink) else {
            return settings
        }
        if let pickup = sink.optional(map, "tcp-pickup", { (s) throws(ValueError) in
            try parseChoice(s, kind: "tcp-pickup", ["strict": TCPPickup.strict, "loose": .loose])
        }) {
            settings.tcpPickup = pickup.value
        }
        if let maxFlows = sink.optional(map, "max-flows", { (s) throws(ValueError) in
            // 16,777,216 flows is about 2 GiB of tables: past that, say so here, not as a trap at start.
            try parseInteger(s, in: 1...(1 << 24), kind: "max-flows")
        }) {
            settings.maxFlows = maxFlows.value
        }
        return settings
    }

    func readInternet(_ node: Node, into draft: inout TopologyDraft) {
        guard let map = MappingReader(
            node, q("internet"), context: "internet", allowed: ["upstream-mac", "hosts"], sink: sink) else { return }
        draft.upstreamMAC = sink.optional(map, "upstream-mac", parseMAC)
        draft.hosts = entries(of: map, "hosts") { node, what in
            let context = describe(node, as: "internet host")
            guard let host = MappingReader(node, what, context: context, allowed: ["name", "ip"], sink: sink) else {
                return nil
            }
            return HostDraft(
                name: sink.required(host, "name", in: context, parseName),
                ip: sink.required(host, "ip", in: context, parseIPv4))
        }
    }
}
