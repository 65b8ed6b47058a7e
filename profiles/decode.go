package profiles

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/v2"
)

// decode turns the merged map into a Config; type errors become
// FieldErrors keyed like the schema ("namespaces[0].retention").
func decode(k *koanf.Koanf, out *Config) error {
	err := k.UnmarshalWithConf("", out, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:       mapstructure.ComposeDecodeHookFunc(durationHook, wholeNumberHook),
			WeaklyTypedInput: true,
			Result:           out,
			TagName:          "koanf",
		},
	})
	if err == nil {
		return nil
	}
	var fes []*FieldError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *mapstructure.DecodeError:
			fes = append(fes, &FieldError{Key: x.Name(), Msg: typeMessage(x.Unwrap())})
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		default:
			fes = append(fes, &FieldError{Key: "config", Msg: e.Error()})
		}
	}
	walk(err)
	return joinFieldErrors(fes)
}

// durationHook accepts durations written as strings ("30s", "24h").
func durationHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		if _, isDuration := data.(time.Duration); isDuration {
			return data, nil // set by a flag
		}
		return nil, fmt.Errorf("%v has no unit; write e.g. 30s, 5m or 24h", data)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a duration; write e.g. 30s, 5m or 24h", s)
	}
	return d, nil
}

// wholeNumberHook refuses a fractional number for an integer key (ports,
// shards): the weakly typed decoder would silently truncate 7300.9 to 7300.
func wholeNumberHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to.Kind() < reflect.Int || to.Kind() > reflect.Uint64 || to == durationType {
		return data, nil
	}
	if f, ok := data.(float64); ok && f != math.Trunc(f) {
		return nil, fmt.Errorf("%v is not a whole number", f)
	}
	return data, nil
}

// typeMessage rewrites mapstructure's wording into what a user should write.
func typeMessage(err error) string {
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("%s is not %s", describeValue(pe.Value), want(pe.Expected.Type()))
	case errors.As(err, &ue):
		return fmt.Sprintf("%s is not %s", describeValue(ue.Value), want(ue.Expected.Type()))
	}
	return err.Error()
}

func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration; write e.g. 30s, 5m or 24h"
	case t.Kind() == reflect.Bool:
		return "a boolean; write true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a map of keys"
	}
	return "a " + t.String()
}
