using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class MultiCurrencyFx : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "fx_expires_at",
                table: "orders",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_from",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "fx_from_amount",
                table: "orders",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_quote_id",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "fx_rate",
                table: "orders",
                type: "numeric(28,16)",
                precision: 28,
                scale: 16,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "fx_source",
                table: "orders",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "allow_converted_prices",
                table: "merchants",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "fx_markup_bps",
                table: "merchants",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.CreateTable(
                name: "fx_rates",
                columns: table => new
                {
                    merchant_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    source = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    @base = table.Column<string>(name: "base", type: "character varying(200)", maxLength: 200, nullable: false),
                    quote = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    rate = table.Column<decimal>(type: "numeric(28,12)", precision: 28, scale: 12, nullable: false),
                    as_of = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_fx_rates", x => new { x.merchant_id, x.source, x.@base, x.quote });
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "fx_rates");

            migrationBuilder.DropColumn(
                name: "fx_expires_at",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_from",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_from_amount",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_quote_id",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_rate",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "fx_source",
                table: "orders");

            migrationBuilder.DropColumn(
                name: "allow_converted_prices",
                table: "merchants");

            migrationBuilder.DropColumn(
                name: "fx_markup_bps",
                table: "merchants");
        }
    }
}
