//! A minimal WhatsApp server for tests and benches. The real whatsapp-rust client connects to it
//! through an in-process pipe (a `TransportFactory`, no sockets). The mock answers the Noise XX
//! handshake as the responder with a self-made certificate chain (test builds skip the chain's
//! signature check), then speaks the binary node protocol over the Noise cipher: it offers an
//! unlinked device a `pair-device` IQ with QR refs and answers every IQ, pings included.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow, bail};
use tokio::sync::{mpsc, watch};
use whatsapp_rust::async_channel;
use whatsapp_rust::buffa::{Message as _, MessageField};
use whatsapp_rust::bytes::{Bytes, BytesMut};
use whatsapp_rust::transport::{DisconnectReason, Transport, TransportEvent, TransportFactory};
use whatsapp_rust::wacore::framing::{FrameDecoder, encode_frame};
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore::noise::{NoiseCipher, NoiseHandshake};
use whatsapp_rust::wacore_binary::builder::NodeBuilder;
use whatsapp_rust::wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, WA_CONN_HEADER};
use whatsapp_rust::wacore_binary::marshal::{marshal, unmarshal_ref};
use whatsapp_rust::wacore_binary::util::unpack;
use whatsapp_rust::wacore_binary::{Node, NodeRef};
use whatsapp_rust::waproto::whatsapp as wa;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The version clients of the mock announce, so none fetches WhatsApp Web's current one.
pub const VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);
const SERVER: &str = "s.whatsapp.net";

/// What the mock has seen, for tests to wait on.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Transports opened by clients.
    pub connections: usize,
    /// Handshakes completed.
    pub handshakes: usize,
    /// `pair-device` offers sent.
    pub pair_offers: usize,
    /// Keepalive pings answered.
    pub pings: usize,
    /// Connections that ended.
    pub closed: usize,
    /// Scans the phone side sent (`pair-success`).
    pub scans: usize,
    /// `pair-device-sign` answers: the client accepted a scan and signed its identity.
    pub signed: usize,
    /// Connections of linked devices, answered with `<success>`.
    pub logins: usize,
    /// Pairing-code requests (linking by phone number).
    pub code_requests: usize,
}

pub struct Mock {
    identity: KeyPair,
    cert_chain: Vec<u8>,
    /// QR refs offered per connection; WhatsApp offers six.
    refs: usize,
    stats: watch::Sender<Stats>,
    /// The phone's identity: it signs the accounts of devices it links.
    phone_identity: KeyPair,
    /// Live connections by the QR refs they were offered, to deliver a scan to.
    offers: Mutex<HashMap<String, Relay>>,
    /// Live connections of linked devices by their account's number.
    accounts: Mutex<HashMap<String, Relay>>,
}

/// Hands a live connection a node to send, or `None` to drop the connection.
type Relay = mpsc::UnboundedSender<Option<Node>>;

impl Mock {
    pub fn new(refs: usize) -> Arc<Mock> {
        let identity = KeyPair::generate(&mut rand::rng());
        let cert_chain = cert_chain(&public_key(&identity));
        Arc::new(Mock {
            identity,
            cert_chain,
            refs,
            stats: watch::Sender::new(Stats::default()),
            phone_identity: KeyPair::generate(&mut rand::rng()),
            offers: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        })
    }

    pub fn factory(self: &Arc<Mock>) -> Arc<dyn TransportFactory> {
        Arc::new(Factory(self.clone()))
    }

    pub fn stats(&self) -> Stats {
        self.stats.borrow().clone()
    }

    /// Waits until `wanted` holds for the stats; fails after `patience`.
    pub async fn until(&self, patience: std::time::Duration, wanted: impl Fn(&Stats) -> bool) {
        let mut rx = self.stats.subscribe();
        tokio::time::timeout(patience, rx.wait_for(|s| wanted(s)))
            .await
            .unwrap_or_else(|_| panic!("the mock did not see that in time: {:?}", self.stats()))
            .expect("mock stats");
    }

    /// Plays the phone scanning `qr` and linking the device to `phone` (digits): sends the
    /// connection that shows this code a `pair-success` carrying a device identity signed by the
    /// phone and authenticated with the QR's adv secret, as WhatsApp relays it after a scan.
    pub fn scan(&self, qr: &str, phone: &str) -> anyhow::Result<()> {
        let parts: Vec<&str> = qr.split(',').collect();
        let [reference, _noise, identity, adv_secret, ..] = parts.as_slice() else {
            bail!("'{qr}' is not a WhatsApp QR payload");
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
        let identity = b64(identity)?;
        let adv_secret = b64(adv_secret)?;
        let connection = self
            .offers
            .lock()
            .unwrap()
            .get(*reference)
            .cloned()
            .context("no live connection shows this QR code")?;
        let device_identity = self.device_identity(&identity, &adv_secret)?;
        connection
            .send(Some(pair_success(&device_identity, phone)))
            .map_err(|_| anyhow!("the connection showing this QR code is gone"))?;
        self.count(|s| s.scans += 1);
        Ok(())
    }

    /// Plays the phone removing the linked device of `phone` (Linked devices → Log out):
    /// WhatsApp ends that device's stream with code 516.
    pub fn unlink(&self, phone: &str) -> anyhow::Result<()> {
        let connection = self
            .accounts
            .lock()
            .unwrap()
            .get(phone)
            .cloned()
            .context("no linked device of this number is connected")?;
        connection
            .send(Some(
                NodeBuilder::new("stream:error").attr("code", "516").build(),
            ))
            .map_err(|_| anyhow!("the device's connection is gone"))
    }

    /// Drops the connection of `phone`'s linked device, as a network failure would.
    pub fn drop_connection(&self, phone: &str) -> anyhow::Result<()> {
        let connection = self
            .accounts
            .lock()
            .unwrap()
            .get(phone)
            .cloned()
            .context("no linked device of this number is connected")?;
        connection
            .send(None)
            .map_err(|_| anyhow!("the device's connection is gone"))
    }

    /// `ADVSignedDeviceIdentityHMAC` for the companion with `identity`: the phone signs
    /// `[6, 0] ‖ details ‖ companion identity`, and the container is HMAC'd with the adv secret.
    fn device_identity(&self, identity: &[u8], adv_secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let details = wa::ADVDeviceIdentity {
            raw_id: Some(rand::random()),
            timestamp: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_secs(),
            ),
            key_index: Some(1),
            ..Default::default()
        }
        .encode_to_vec();
        let signed_part = [&[6u8, 0][..], &details, identity].concat();
        let signature = self
            .phone_identity
            .private_key
            .calculate_signature(&signed_part, &mut rand::rng())?;
        let signed = wa::ADVSignedDeviceIdentity {
            details: Some(details),
            account_signature_key: Some(public_key(&self.phone_identity).to_vec()),
            account_signature: Some(signature.to_vec()),
            ..Default::default()
        }
        .encode_to_vec();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(adv_secret)?;
        mac.update(&signed);
        Ok(wa::ADVSignedDeviceIdentityHMAC {
            details: Some(signed),
            hmac: Some(mac.finalize().into_bytes().to_vec()),
            ..Default::default()
        }
        .encode_to_vec())
    }

    fn count(&self, change: impl FnOnce(&mut Stats)) {
        self.stats.send_modify(change);
    }
}

fn public_key(pair: &KeyPair) -> [u8; 32] {
    pair.public_key
        .public_key_bytes()
        .try_into()
        .expect("an X25519 public key has 32 bytes")
}

/// A certificate chain in WhatsApp's shape (intermediate issued by serial 0, leaf naming the
/// server's static key). The signatures are zeros: test builds do not check them.
fn cert_chain(server_static: &[u8; 32]) -> Vec<u8> {
    let details = |serial: u32, issuer: u32, key: Vec<u8>| {
        wa::cert_chain::noise_certificate::Details {
            serial: Some(serial),
            issuer_serial: Some(issuer),
            key: Some(key),
            not_before: Some(1_700_000_000),
            not_after: Some(4_000_000_000),
        }
        .encode_to_vec()
    };
    let certificate = |details: Vec<u8>| wa::cert_chain::NoiseCertificate {
        details: Some(details),
        signature: Some(vec![0; 64]),
    };
    wa::CertChain {
        intermediate: MessageField::some(certificate(details(1, 0, vec![7; 32]))),
        leaf: MessageField::some(certificate(details(2, 1, server_static.to_vec()))),
    }
    .encode_to_vec()
}

struct Factory(Arc<Mock>);

#[whatsapp_rust::async_trait]
impl TransportFactory for Factory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let (to_client, events) = async_channel::unbounded();
        let (from_client, inbox) = mpsc::unbounded_channel();
        let _ = to_client.try_send(TransportEvent::Connected);
        self.0.count(|s| s.connections += 1);
        let mock = self.0.clone();
        tokio::spawn(async move {
            let reason = match serve(&mock, inbox, &to_client).await {
                Ok(()) => DisconnectReason::StreamEnded,
                Err(error) => DisconnectReason::ReadError(format!("{error:#}")),
            };
            mock.count(|s| s.closed += 1);
            let _ = to_client.send(TransportEvent::Disconnected(reason)).await;
        });
        Ok((Arc::new(Pipe(from_client)), events))
    }
}

/// The client's end of the pipe: what it sends goes to the mock's connection task.
struct Pipe(mpsc::UnboundedSender<Option<Bytes>>);

#[whatsapp_rust::async_trait]
impl Transport for Pipe {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        self.0
            .send(Some(data))
            .map_err(|_| anyhow!("the mock closed the connection"))
    }

    async fn disconnect(&self) {
        let _ = self.0.send(None);
    }
}

/// Reads length-prefixed frames from the client's byte stream.
struct Frames {
    inbox: mpsc::UnboundedReceiver<Option<Bytes>>,
    decoder: FrameDecoder,
    header_seen: bool,
}

impl Frames {
    /// The next frame, or `None` once the client hung up.
    async fn next(&mut self) -> anyhow::Result<Option<BytesMut>> {
        loop {
            if let Some(frame) = self.decoder.decode_frame() {
                return Ok(Some(frame));
            }
            let Some(Some(mut data)) = self.inbox.recv().await else {
                return Ok(None);
            };
            if !self.header_seen {
                // The first write opens with WhatsApp's connection header.
                if !data.starts_with(&WA_CONN_HEADER) {
                    bail!("the client did not open with the WA connection header");
                }
                data = data.slice(WA_CONN_HEADER.len()..);
                self.header_seen = true;
            }
            self.decoder.feed(&data);
        }
    }
}

/// The encrypted half of a connection, after the handshake.
struct Link<'a> {
    to_client: &'a async_channel::Sender<TransportEvent>,
    read: NoiseCipher,
    write: NoiseCipher,
    read_counter: u32,
    write_counter: u32,
}

impl Link<'_> {
    async fn send(&mut self, node: &Node) -> anyhow::Result<()> {
        let plain = marshal(node)?;
        let sealed = self
            .write
            .encrypt_with_counter(self.write_counter, &plain)?;
        self.write_counter += 1;
        let frame = encode_frame(&sealed, None)?;
        self.to_client
            .send(TransportEvent::DataReceived(frame.into()))
            .await
            .map_err(|_| anyhow!("the client went away"))
    }

    fn open(&mut self, frame: BytesMut) -> anyhow::Result<Vec<u8>> {
        let mut buffer = frame.to_vec();
        self.read
            .decrypt_in_place_with_counter(self.read_counter, &mut buffer)?;
        self.read_counter += 1;
        Ok(unpack(&buffer)?.into_owned())
    }
}

async fn send_raw(
    to_client: &async_channel::Sender<TransportEvent>,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let frame = encode_frame(bytes, None)?;
    to_client
        .send(TransportEvent::DataReceived(frame.into()))
        .await
        .map_err(|_| anyhow!("the client went away"))
}

/// Responder side of Noise XX: -> e, <- e ee s es, -> s se. `None` if the client hung up.
async fn xx(
    mock: &Mock,
    frames: &mut Frames,
    to_client: &async_channel::Sender<TransportEvent>,
    client_ephemeral: [u8; 32],
) -> anyhow::Result<Option<(NoiseHandshake, Vec<u8>)>> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER)?;
    noise.authenticate(&client_ephemeral);
    let ephemeral = KeyPair::generate(&mut rand::rng());
    let ephemeral_public = public_key(&ephemeral);
    noise.authenticate(&ephemeral_public);
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_ephemeral)?;
    let sealed_static = noise.encrypt(&public_key(&mock.identity))?;
    noise.mix_shared_secret(mock.identity.private_key.serialize(), &client_ephemeral)?;
    let sealed_chain = noise.encrypt(&mock.cert_chain)?;
    send_server_hello(
        to_client,
        ephemeral_public,
        Some(sealed_static),
        sealed_chain,
    )
    .await?;

    let Some(finish) = frames.next().await? else {
        return Ok(None);
    };
    let finish = wa::HandshakeMessage::decode_from_slice(&finish)
        .context("client finish")?
        .client_finish
        .into_option()
        .context("no client finish")?;
    let sealed = finish
        .r#static
        .as_deref()
        .context("client finish without a key")?;
    let client_static: [u8; 32] = noise
        .decrypt(sealed)?
        .try_into()
        .map_err(|_| anyhow!("the client's static key is not 32 bytes"))?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static)?;
    let sealed = finish
        .payload
        .as_deref()
        .context("client finish without payload")?;
    let payload = noise.decrypt(sealed)?;
    Ok(Some((noise, payload)))
}

/// Responder side of Noise IK, accepting: <- s (known), -> e es s ss, <- e ee se.
async fn ik_accept(
    mock: &Mock,
    to_client: &async_channel::Sender<TransportEvent>,
    client_ephemeral: [u8; 32],
    sealed_static: &[u8],
    sealed_payload: &[u8],
) -> anyhow::Result<(NoiseHandshake, Vec<u8>)> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
    noise.authenticate(&public_key(&mock.identity));
    noise.authenticate(&client_ephemeral);
    noise.mix_shared_secret(mock.identity.private_key.serialize(), &client_ephemeral)?;
    let client_static: [u8; 32] = noise
        .decrypt(sealed_static)?
        .try_into()
        .map_err(|_| anyhow!("the client's static key is not 32 bytes"))?;
    noise.mix_shared_secret(mock.identity.private_key.serialize(), &client_static)?;
    let payload = noise.decrypt(sealed_payload)?;
    let ephemeral = KeyPair::generate(&mut rand::rng());
    let ephemeral_public = public_key(&ephemeral);
    noise.authenticate(&ephemeral_public);
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_ephemeral)?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static)?;
    let sealed_chain = noise.encrypt(&mock.cert_chain)?;
    // No static key in the answer: that is how the server says it accepts IK.
    send_server_hello(to_client, ephemeral_public, None, sealed_chain).await?;
    Ok((noise, payload))
}

async fn send_server_hello(
    to_client: &async_channel::Sender<TransportEvent>,
    ephemeral: [u8; 32],
    sealed_static: Option<Vec<u8>>,
    sealed_chain: Vec<u8>,
) -> anyhow::Result<()> {
    let server_hello = wa::HandshakeMessage {
        server_hello: MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static: sealed_static,
            payload: Some(sealed_chain),
            ..Default::default()
        }),
        ..Default::default()
    };
    send_raw(to_client, &server_hello.encode_to_vec()).await
}

/// One client connection: handshake, then nodes until the client hangs up.
async fn serve(
    mock: &Mock,
    inbox: mpsc::UnboundedReceiver<Option<Bytes>>,
    to_client: &async_channel::Sender<TransportEvent>,
) -> anyhow::Result<()> {
    let mut frames = Frames {
        inbox,
        decoder: FrameDecoder::new(),
        header_seen: false,
    };
    let Some(hello) = frames.next().await? else {
        return Ok(());
    };
    let hello = wa::HandshakeMessage::decode_from_slice(&hello)
        .context("client hello")?
        .client_hello
        .into_option()
        .context("no client hello")?;
    let client_ephemeral: [u8; 32] = hello
        .ephemeral
        .clone()
        .context("client hello without an ephemeral key")?
        .try_into()
        .map_err(|_| anyhow!("the client's ephemeral key is not 32 bytes"))?;
    // A device that cached the server's certificate resumes with IK; others start with XX.
    let (noise, payload) = match (&hello.r#static, &hello.payload) {
        (Some(sealed_static), Some(sealed_payload)) => {
            ik_accept(
                mock,
                to_client,
                client_ephemeral,
                sealed_static,
                sealed_payload,
            )
            .await?
        }
        _ => match xx(mock, &mut frames, to_client, client_ephemeral).await? {
            Some(done) => done,
            None => return Ok(()),
        },
    };
    let payload = wa::ClientPayload::decode_from_slice(&payload).context("client payload")?;
    // Both sides split the same keys; the initiator writes with the first.
    let (client_write, client_read) = noise.finish()?;
    let mut link = Link {
        to_client,
        read: client_write,
        write: client_read,
        read_counter: 0,
        write_counter: 0,
    };
    mock.count(|s| s.handshakes += 1);

    let (relay, mut relayed) = mpsc::unbounded_channel();
    let mut offered = Vec::new();
    let mut account = None;
    if let Some(user) = payload.username {
        // A linked device logging in: accept it, with an empty offline queue.
        link.send(&success(user)).await?;
        link.send(&offline_done()).await?;
        mock.accounts
            .lock()
            .unwrap()
            .insert(user.to_string(), relay.clone());
        account = Some(user.to_string());
        mock.count(|s| s.logins += 1);
    } else {
        // A device that is not linked yet: offer QR refs, as WhatsApp does right away.
        let (offer, refs) = pair_device(mock.refs);
        {
            let mut offers = mock.offers.lock().unwrap();
            for reference in &refs {
                offers.insert(reference.clone(), relay.clone());
            }
        }
        offered = refs;
        link.send(&offer).await?;
        mock.count(|s| s.pair_offers += 1);
    }

    let result = async {
        loop {
            tokio::select! {
                frame = frames.next() => {
                    let Some(frame) = frame? else { return Ok(()) };
                    let plain = link.open(frame)?;
                    let node = unmarshal_ref(&plain)?;
                    if is_signed_identity(&node) {
                        mock.count(|s| s.signed += 1);
                        // As WhatsApp does after a link: end the stream so the device logs in.
                        link.send(&NodeBuilder::new("stream:error").attr("code", "515").build()).await?;
                        continue;
                    }
                    if let Some(answer) = answer(mock, &node) {
                        link.send(&answer).await?;
                    }
                }
                Some(node) = relayed.recv() => match node {
                    Some(node) => link.send(&node).await?,
                    None => bail!("connection dropped by the test"),
                },
            }
        }
    }
    .await;
    let mut offers = mock.offers.lock().unwrap();
    for reference in &offered {
        offers.remove(reference);
    }
    if let Some(account) = account {
        // A newer connection of the same account may have taken the entry already.
        let mut accounts = mock.accounts.lock().unwrap();
        if accounts
            .get(&account)
            .is_some_and(|r| r.same_channel(&relay))
        {
            accounts.remove(&account);
        }
    }
    result
}

/// `<success>`: the server accepted a linked device's login.
fn success(user: u64) -> Node {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    NodeBuilder::new("success")
        .attrs([
            ("t", now.to_string()),
            ("lid", format!("9{user}@lid")),
            ("props", "1".to_string()),
        ])
        .build()
}

/// `<ib><offline count="0"/></ib>`: nothing was queued while the device was away.
fn offline_done() -> Node {
    NodeBuilder::new("ib")
        .attr("from", SERVER)
        .children([NodeBuilder::new("offline").attr("count", "0").build()])
        .build()
}

/// The client's answer to a `pair-success`: its own signature over the device identity.
fn is_signed_identity(node: &NodeRef<'_>) -> bool {
    &*node.tag == "iq"
        && node
            .get_optional_child_by_tag(&["pair-device-sign"])
            .is_some_and(|sign| {
                sign.get_optional_child_by_tag(&["device-identity"])
                    .is_some()
            })
}

/// `<iq type="set"><pair-success><device-identity/><device jid lid/><platform/></pair-success>`
fn pair_success(device_identity: &[u8], phone: &str) -> Node {
    let id: u32 = rand::random();
    NodeBuilder::new("iq")
        .attrs([
            ("from", SERVER.to_string()),
            ("type", "set".to_string()),
            ("id", format!("mock-{id}")),
            ("xmlns", "md".to_string()),
        ])
        .children([NodeBuilder::new("pair-success")
            .children([
                NodeBuilder::new("device-identity")
                    .bytes(device_identity.to_vec())
                    .build(),
                NodeBuilder::new("device")
                    .attrs([
                        ("jid", format!("{phone}:7@{SERVER}")),
                        ("lid", format!("9{phone}:7@lid")),
                    ])
                    .build(),
                NodeBuilder::new("platform").attr("name", "android").build(),
            ])
            .build()])
        .build()
}

fn attr(node: &NodeRef<'_>, key: &str) -> Option<String> {
    node.get_attr(key).map(|v| v.as_str().into_owned())
}

/// The mock's reply to a client node: every `get`/`set` IQ gets an empty result.
fn answer(mock: &Mock, node: &NodeRef<'_>) -> Option<Node> {
    if &*node.tag != "iq" {
        return None;
    }
    let kind = attr(node, "type")?;
    if kind != "get" && kind != "set" {
        return None;
    }
    let id = attr(node, "id")?;
    if attr(node, "xmlns").as_deref() == Some("w:p") {
        mock.count(|s| s.pings += 1);
    }
    let result = NodeBuilder::new("iq").attrs([
        ("from", SERVER.to_string()),
        ("type", "result".to_string()),
        ("id", id),
    ]);
    if node
        .get_optional_child("link_code_companion_reg")
        .is_some_and(|reg| attr(reg, "stage").as_deref() == Some("companion_hello"))
    {
        // Linking by phone number: WhatsApp answers the first stage with a pairing ref.
        let reference: [u8; 16] = rand::random();
        let reg = NodeBuilder::new("link_code_companion_reg")
            .children([NodeBuilder::new("link_code_pairing_ref")
                .bytes(reference.to_vec())
                .build()])
            .build();
        mock.count(|s| s.code_requests += 1);
        return Some(result.children([reg]).build());
    }
    if attr(node, "xmlns").as_deref() == Some("w:sync:app:state") {
        // App state: every requested collection exists and is empty.
        let collections: Vec<Node> = node
            .get_optional_child("sync")
            .and_then(|sync| sync.children())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| attr(c, "name"))
            .map(|name| {
                NodeBuilder::new("collection")
                    .attrs([("name", name), ("version", "0".to_string())])
                    .build()
            })
            .collect();
        return Some(
            result
                .children([NodeBuilder::new("sync").children(collections).build()])
                .build(),
        );
    }
    Some(result.build())
}

/// `<iq type="set" xmlns="md"><pair-device><ref>…</ref>…</pair-device></iq>`, and its refs.
fn pair_device(count: usize) -> (Node, Vec<String>) {
    let refs: Vec<String> = (0..count)
        .map(|_| {
            let reference: [u8; 24] = rand::random();
            let text: String = reference.iter().map(|b| format!("{b:02x}")).collect();
            format!("2@{text}")
        })
        .collect();
    let children = refs.iter().map(|r| {
        NodeBuilder::new("ref")
            .bytes(r.clone().into_bytes())
            .build()
    });
    let id: u32 = rand::random();
    let node = NodeBuilder::new("iq")
        .attrs([
            ("from", SERVER.to_string()),
            ("type", "set".to_string()),
            ("id", format!("mock-{id}")),
            ("xmlns", "md".to_string()),
        ])
        .children([NodeBuilder::new("pair-device").children(children).build()])
        .build();
    (node, refs)
}
