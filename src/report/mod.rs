//! Turning a recorded [`History`](crate::history::History) into things people read.
//!
//! - [`narrate`]: a plain-text story of the run in simulated time (faults, elections,
//!   quorum lost and regained, session expiry, Kafka controller and partition changes, and
//!   a summary per client). Facts seen by several servers are one line.
//! - [`render_run_html`] (and [`render_html`] without checker verdicts): one
//!   self-contained HTML page (inline CSS, JS and SVG; nothing fetched from the network): a
//!   panel with each checker's verdict, a lane per node and per client process, roles and
//!   faults over time, client operations in three colours ([`OpClass`]: ok, definite error,
//!   unavailable or unknown), checker violations marked ([`Highlight`]), and small charts.
//!
//! Both are pure functions of the history: the same history renders to the same bytes.
//! Report folders and replay live elsewhere; these are only the renderers.

pub mod folder;
mod html;
mod names;
mod narrate;

pub use html::{render_html, render_run_html, Highlight, OpClass, OP_BARS_MAX};
pub use narrate::narrate;
