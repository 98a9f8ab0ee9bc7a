//! Turning a recorded [`History`](crate::history::History) into things people read.
//!
//! - [`narrate`]: a plain-text story of the run in simulated time (faults, elections,
//!   quorum lost and regained, session expiry, Kafka controller and partition changes, and
//!   a summary per client). Facts seen by several servers are one line.
//! - [`render_html`]: one self-contained HTML page (inline CSS, JS and SVG; nothing fetched
//!   from the network): a lane per node and per client, roles and faults over time, client
//!   operations coloured by outcome, checker violations marked ([`Highlight`]), and small
//!   charts.
//!
//! Both are pure functions of the history: the same history renders to the same bytes.
//! Report folders and replay live elsewhere; these are only the renderers.

pub mod folder;
mod html;
mod names;
mod narrate;

pub use html::{render_html, Highlight, OP_BARS_MAX};
pub use narrate::narrate;
