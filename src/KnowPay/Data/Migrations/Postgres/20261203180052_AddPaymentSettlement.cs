using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class AddPaymentSettlement : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "payer_amount",
                table: "payments",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "payer_currency",
                table: "payments",
                type: "character varying(3)",
                maxLength: 3,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "payer_rate",
                table: "payments",
                type: "numeric(24,12)",
                precision: 24,
                scale: 12,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "settlement_amount",
                table: "payments",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "settlement_currency",
                table: "payments",
                type: "character varying(3)",
                maxLength: 3,
                nullable: true);

            migrationBuilder.AddColumn<decimal>(
                name: "settlement_rate",
                table: "payments",
                type: "numeric(24,12)",
                precision: 24,
                scale: 12,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "settlement_currency",
                table: "merchants",
                type: "character varying(3)",
                maxLength: 3,
                nullable: false,
                defaultValue: "CNY");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "payer_amount",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "payer_currency",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "payer_rate",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_amount",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_currency",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_rate",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "settlement_currency",
                table: "merchants");
        }
    }
}
