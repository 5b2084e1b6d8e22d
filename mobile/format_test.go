package mobile

import (
	"go/ast"
	"go/format"
	"go/token"
	"io"
)

func formatNode(w io.Writer, fset *token.FileSet, e ast.Expr) error {
	return format.Node(w, fset, e)
}
