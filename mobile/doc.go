// Package mobile is a gomobile-bindable face over package client for
// Android (VpnService) and iOS (NetworkExtension) apps.
package mobile
